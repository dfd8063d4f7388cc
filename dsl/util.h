/* Small support pieces shared by every phase: an arena allocator (the AST and
 * the loop IR live in one and die together), a growable string buffer, and
 * checked allocation.
 *
 * Out of memory never aborts. x*alloc return NULL (the failure, its size and
 * its call site kept per thread for the caller's message, as errno is); an
 * arena given an escape longjmps there instead (the front end and the
 * lowering, which already escape on errors: whatever they allocated is in
 * the arena); a string buffer stops growing and sb_take returns NULL. */
#ifndef GMMC_UTIL_H
#define GMMC_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ArenaBlock ArenaBlock;
#include "fault.h"

typedef struct {
  ArenaBlock *head;
  jmp_buf *escape; /* where a failed allocation goes; NULL: it returns NULL */
  int failed;      /* an allocation failed (out of memory) */
} Arena;

void *arena_alloc(Arena *a, size_t size); /* zeroed */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(Arena *a);
/* Copies a malloc'd string into the arena and frees it (NULL: out of memory). */
char *arena_adopt(Arena *a, char *s);

/* Growable array of pointers allocated from an arena. */
typedef struct {
  void **items;
  int len, cap;
} PtrVec;
void ptrvec_push(Arena *a, PtrVec *v, void *item);

typedef struct {
  char *data;
  size_t len, cap;
  int failed;       /* could not grow: the text is incomplete */
  const char *site; /* named in an out-of-memory message; NULL: util.c */
} StrBuf;
void sb_putc(StrBuf *sb, char c);
void sb_puts(StrBuf *sb, const char *s);
void sb_putn(StrBuf *sb, const char *s, size_t n);
void sb_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(StrBuf *sb, const char *fmt, va_list ap);
char *sb_take(StrBuf *sb);              /* caller frees; NULL when out of memory; buffer is reset */
char *arena_take(Arena *a, StrBuf *sb); /* the text into the arena; sb is reset */
void sb_free(StrBuf *sb);

/* "file:line", the call site an out-of-memory message names */
#define GMMC_SITE_STR2(x) #x
#define GMMC_SITE_STR(x) GMMC_SITE_STR2(x)
#define GMMC_SITE (__FILE__ ":" GMMC_SITE_STR(__LINE__))

void *xmalloc_at(size_t n, const char *site);
void *xcalloc_at(size_t n, size_t size, const char *site);
void *xrealloc_at(void *p, size_t n, const char *site); /* on NULL, p is still valid */
char *xstrdup_at(const char *s, const char *site);
void *xaligned_alloc_at(size_t align, size_t n, const char *site); /* n a multiple of align */
char *xasprintf_at(const char *site, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define xmalloc(n) xmalloc_at((n), GMMC_SITE)
#define xcalloc(n, size) xcalloc_at((n), (size), GMMC_SITE)
#define xrealloc(p, n) xrealloc_at((p), (n), GMMC_SITE)
#define xstrdup(s) xstrdup_at((s), GMMC_SITE)
#define xaligned_alloc(align, n) xaligned_alloc_at((align), (n), GMMC_SITE)
#define xasprintf(...) xasprintf_at(GMMC_SITE, __VA_ARGS__)

/* The last allocation of this thread that failed: its size and call site. */
typedef struct {
  size_t bytes;
  const char *site;
} AllocFailure;
AllocFailure alloc_last_failure(void);
/* "out of memory: N bytes for WHAT (at SITE)" for that failure, into buf or
 * malloc'd (NULL when even that fails). */
void oom_message(char *buf, size_t size, const char *what);
char *oom_text(const char *what);

/* Reads a whole file; returns NULL and sets *err (malloc'd) on failure. */
char *read_file(const char *path, size_t *len, char **err);
/* The directory part of a path, malloc'd: "a/b" -> "a", "/b" -> "/", "b" -> ".". */
char *path_dir(const char *path);

/* Writes all of data (retrying short writes and EINTR); 0, or -1 with errno. */
int write_all_at(int fd, const void *data, size_t size, const char *site);
#define write_all(fd, data, size) write_all_at((fd), (data), (size), GMMC_SITE)

/* 64-bit FNV-1a, used for cache keys. */
uint64_t fnv1a(uint64_t h, const void *data, size_t n);
#define FNV1A_INIT 0xcbf29ce484222325ULL

/* Milliseconds on the monotonic clock, for timings and profiles. */
double monotonic_ms(void);

#endif
