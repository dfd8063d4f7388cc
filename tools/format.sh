#!/bin/sh
# Applies the project's C style (.clang-format) to every C source and
# header, or with --check lists the files that differ from it and fails
# (ctest style_format). Needs clang-format-19 (tools/install-deps.sh):
# another version formats differently, so no other is used.
#   tools/format.sh [--check]
set -eu
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-clang-format-19}
if ! command -v "$cf" >/dev/null; then
  echo "format.sh: $cf not found (tools/install-deps.sh installs it)" >&2
  exit 77
fi
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find dsl compiler runtime cli include tests python examples -name '*.[ch]')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in $files; do
    if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
      echo "format.sh: $f differs from .clang-format (tools/format.sh applies it)"
      bad=1
    fi
  done
  [ $bad -eq 0 ] && echo "format.sh: $(echo "$files" | wc -w) files formatted"
  exit $bad
fi
# shellcheck disable=SC2086
"$cf" --style=file -i $files
