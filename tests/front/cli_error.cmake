# gmmc compile SPEC --sizes M=2,D=2 on a malformed spec: exits non-zero and
# prints the spec's "# expect:" message on stderr, with the path as given on
# the command line in place of the file name.
#   cmake -DGMMC=path/to/gmmc -DSPEC=path/to/bad.yaml -P cli_error.cmake
execute_process(COMMAND ${GMMC} compile ${SPEC} --sizes M=2,D=2 --emit loops
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(STRINGS ${SPEC} first LIMIT_COUNT 1)
get_filename_component(base ${SPEC} NAME)
string(LENGTH "# expect: ${base}" skip)
string(SUBSTRING "${first}" ${skip} -1 rest) # ":line:col: error: ..."
set(want "${SPEC}${rest}")
if(rc EQUAL 0)
  message(FATAL_ERROR "gmmc compile ${SPEC} exited with 0; expected a failure\nstdout:\n${out}")
endif()
string(FIND "${err}" "${want}\n" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "gmmc compile ${SPEC}: stderr does not start with\n  ${want}\nstderr:\n${err}")
endif()
string(FIND "${out}" "error" in_out)
if(NOT in_out EQUAL -1)
  message(FATAL_ERROR "gmmc compile ${SPEC}: the error went to stdout:\n${out}")
endif()
message(STATUS "gmmc exited with ${rc} and reported: ${want}")
