/* Small support pieces shared by every phase: an arena allocator (the AST and
 * the loop IR live in one and die together), a growable string buffer, and
 * checked allocation. */
#ifndef GMMC_UTIL_H
#define GMMC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ArenaBlock ArenaBlock;
typedef struct {
  ArenaBlock *head;
} Arena;

void *arena_alloc(Arena *a, size_t size); /* zeroed */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(Arena *a);

/* Growable array of pointers allocated from an arena. */
typedef struct {
  void **items;
  int len, cap;
} PtrVec;
void ptrvec_push(Arena *a, PtrVec *v, void *item);

typedef struct {
  char *data;
  size_t len, cap;
} StrBuf;
void sb_putc(StrBuf *sb, char c);
void sb_puts(StrBuf *sb, const char *s);
void sb_putn(StrBuf *sb, const char *s, size_t n);
void sb_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(StrBuf *sb, const char *fmt, va_list ap);
char *sb_take(StrBuf *sb); /* caller frees; buffer is reset */
void sb_free(StrBuf *sb);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole file; returns NULL and sets *err (malloc'd) on failure. */
char *read_file(const char *path, size_t *len, char **err);
/* The directory part of a path, malloc'd: "a/b" -> "a", "/b" -> "/", "b" -> ".". */
char *path_dir(const char *path);

/* 64-bit FNV-1a, used for cache keys. */
uint64_t fnv1a(uint64_t h, const void *data, size_t n);
#define FNV1A_INIT 0xcbf29ce484222325ULL

/* Milliseconds on the monotonic clock, for timings and profiles. */
double monotonic_ms(void);

#endif
