/* Out of memory as the runtime reports it: GMMC_ERR_OUT_OF_MEMORY with a
 * message naming the allocation that just failed (its size and call site,
 * dsl/util.h) and what it was for. In the lowest folder of the runtime so
 * that every folder above can use it. */
#ifndef GMMC_OOM_H
#define GMMC_OOM_H

#include "dsl/util.h"
#include "gmmc/gmmc.h"

static inline gmmc_status oom_status(char **err, const char *what) {
  if (err) *err = oom_text(what);
  return GMMC_ERR_OUT_OF_MEMORY;
}

#endif
