#include "gmmc/gmmc.h"

const char *gmmc_version(void) { return GMMC_VERSION_STRING; }

const char *gmmc_status_name(gmmc_status s) {
  static const char *const names[] = {"ok",        "invalid argument", "spec error",      "compile error",
                                      "I/O error", "data error",       "numerical error", "device error",
                                      "no device", "out of memory",    "internal error"};
  return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown status";
}
