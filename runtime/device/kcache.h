/* The on-disk kernel cache: compiled code keyed by everything that
 * determines it — a GPU kernel's code digest or a host program (its loop IR,
 * or what it was lowered from), the build that made it, the target, and the
 * versions of gmmc and LLVM — so a second run with the same shapes compiles
 * nothing. Files are written to a temporary
 * name and renamed; a damaged or missing entry is just a miss. */
#ifndef GMMC_KCACHE_H
#define GMMC_KCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "compiler/loopir.h"

uint64_t kcache_key(const Program *p, const char *target);
/* kcache_key of a program whose digest is known before it is lowered. */
uint64_t kcache_digest_key(uint64_t digest, const char *target);
/* The key of one kernel's code: its kernel_code_digest salted with what
 * every kernel of a load shares — the build of this library that generates
 * code (GNU build ID), the versions and the target (kcache_code_salt, found
 * once per backend, not per kernel). */
uint64_t kcache_code_salt(const char *target);
uint64_t kcache_code_key(uint64_t salt, uint64_t code_digest);

/* A digest of what a lowering starts from (the spec's text, the size values,
 * the options) and of the code that lowers it (this library's GNU build ID):
 * equal digests mean equal programs, found without dumping the program (a
 * few milliseconds for a GPU program with every variant). 0 when this build
 * has no build ID; then keys hash the program's dump. */
uint64_t kcache_source_digest(const char *spec_text, const int64_t *values, int nvalues, const LowerOptions *o);
/* The entry's bytes (malloc'd) or NULL. */
void *kcache_get(const char *dir, uint64_t key, const char *ext, size_t *size);
/* Best effort: a cache that cannot be written is not an error. */
void kcache_put(const char *dir, uint64_t key, const char *ext, const void *data, size_t size);

#endif
