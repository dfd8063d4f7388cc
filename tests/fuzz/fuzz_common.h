/* Shared by the libFuzzer targets (fuzz_*.c) and by their replay without
 * libFuzzer (replay_main.c, run by CTest in tests/robust).
 *
 * The readers take a path, not a buffer: an input is written to one memfd
 * per process (an in-memory regular file, so mmap and fstat behave as on
 * disk) and read back through /proc/self/fd/N. FUZZ_CHECK aborts with a
 * message, so that a broken property shows up as a crash in libFuzzer and a
 * failure in the replay. */
#ifndef GMMC_FUZZ_COMMON_H
#define GMMC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Writes the input to the process's memfd (created on first use, truncated
 * each time) and returns its path "/proc/self/fd/N" (static storage). */
const char *fuzz_file(const uint8_t *data, size_t size);

/* A directory for files a target writes (model round trips); made once per
 * process under $TMPDIR (or /dev/shm when it exists, where fsync is free) and
 * removed at exit. */
const char *fuzz_scratch_dir(void);

/* 64-bit FNV-1a of the input: the targets derive their choices (sizes,
 * options) from it, so that an input always replays the same way. */
uint64_t fuzz_hash(const uint8_t *data, size_t size);

_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define FUZZ_CHECK(cond, ...)                                                                                          \
  do {                                                                                                                 \
    if (!(cond)) fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                                           \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
