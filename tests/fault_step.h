/* The fault-injection tests' STEP: runs one API call of a sequence unless an
 * earlier one failed; the first failure's status, stage and message stay in
 * the Outcome `o` (fields status, stage, message), read from context `ctx`.
 * tests/robust/test_faults.c (host) and tests/gpu/fault_driver.c (driver). */
#ifndef GMMC_TESTS_FAULT_STEP_H
#define GMMC_TESTS_FAULT_STEP_H

#include <stdio.h>

#include "gmmc/gmmc.h"

#define STEP(name, call)                                                                                               \
  do {                                                                                                                 \
    if (!o.status && (o.status = (call)) != GMMC_OK) {                                                                 \
      o.stage = name;                                                                                                  \
      snprintf(o.message, sizeof o.message, "%s", gmmc_last_error(ctx));                                               \
    }                                                                                                                  \
  } while (0)

#endif
