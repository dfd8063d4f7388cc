/* Helpers of the io tests: a fresh random seed per run (printed on failure;
 * GMMC_TEST_SEED=N repeats a run), a scratch directory removed when the test
 * passes, whole-file reads and writes, and checks that stop at the first
 * failure with the file, line and seed. */
#ifndef GMMC_IO_TEST_H
#define GMMC_IO_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "gmmc/gmmc.h"

void io_init(const char *name);
int io_done(void);                    /* removes the scratch directory; returns 0 for main */
void io_remove_tree(const char *dir); /* a directory and everything in it (absent: nothing) */
const char *io_dir(void);
const char *io_path(const char *file); /* in the scratch directory; valid for 64 calls */
uint64_t io_seed(void);

uint64_t io_rand(void);
int64_t io_range(int64_t lo, int64_t hi); /* uniform in [lo, hi] */
double io_uniform(void);                  /* [0, 1) */
double io_normal(void);

void io_write(const char *path, const void *data, size_t n);
char *io_read(const char *path, size_t *n);                               /* malloc'd, NUL-terminated */
char *io_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* valid for 64 calls */

_Noreturn void io_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks a call's status and its message (exactly), and frees the message. */
void io_expect(const char *file, int line, gmmc_status got, char *err, gmmc_status want, const char *want_msg);
void io_expect_ok(const char *file, int line, gmmc_status got, char *err);

#define CHECK(c)                                                                                                       \
  do {                                                                                                                 \
    if (!(c)) io_fail(__FILE__, __LINE__, "check failed: %s", #c);                                                     \
  } while (0)
#define EXPECT_ERR(call, want, ...)                                                                                    \
  do {                                                                                                                 \
    char *err_ = NULL;                                                                                                 \
    gmmc_status s_ = (call);                                                                                           \
    io_expect(__FILE__, __LINE__, s_, err_, want, io_fmt(__VA_ARGS__));                                                \
  } while (0)
#define EXPECT_OK(call)                                                                                                \
  do {                                                                                                                 \
    char *err_ = NULL;                                                                                                 \
    gmmc_status s_ = (call);                                                                                           \
    io_expect_ok(__FILE__, __LINE__, s_, err_);                                                                        \
  } while (0)

#endif
