#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ArenaBlock {
  ArenaBlock *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "gmmc: out of memory (%zu bytes)\n", n);
    abort();
  }
  return p;
}

void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) {
    fprintf(stderr, "gmmc: out of memory (%zu bytes)\n", n * size);
    abort();
  }
  return p;
}

void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "gmmc: out of memory (%zu bytes)\n", n);
    abort();
  }
  return q;
}

char *xstrdup(const char *s) {
  size_t n = strlen(s);
  char *p = xmalloc(n + 1);
  memcpy(p, s, n + 1);
  return p;
}

char *xasprintf(const char *fmt, ...) {
  StrBuf sb = {0};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  return sb_take(&sb);
}

void *arena_alloc(Arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  ArenaBlock *b = a->head;
  if (!b || b->used + size > b->cap) {
    size_t cap = size > 65536 ? size : 65536;
    /* zeroed once, not allocation by allocation: arenas are never rewound */
    b = xcalloc(1, sizeof(ArenaBlock) + cap);
    b->next = a->head;
    b->cap = cap;
    a->head = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

/* Writes v in decimal into the characters before `end`; returns its first. */
static char *decimal(char *end, long long v) {
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  char *at = end;
  do *--at = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0) *--at = '-';
  return at;
}

/* The names the lowering makes by the thousand ("y3_5", "%s_%s_partial")
 * use only %s, %d and %lld: those without vsnprintf, which took a fifth of
 * the lowering time; anything else falls back to it. */
static int format_simple(StrBuf *sb, const char *fmt, va_list ap) {
  for (const char *f = fmt; *f; f++) {
    if (*f != '%') {
      sb_putc(sb, *f);
      continue;
    }
    char digits[24];
    if (f[1] == 's') {
      const char *str = va_arg(ap, const char *);
      sb_puts(sb, str ? str : "(null)");
      f++;
    } else if (f[1] == 'd') {
      char *at = decimal(digits + sizeof digits, va_arg(ap, int));
      sb_putn(sb, at, (size_t)(digits + sizeof digits - at));
      f++;
    } else if (f[1] == 'l' && f[2] == 'l' && f[3] == 'd') {
      char *at = decimal(digits + sizeof digits, va_arg(ap, long long));
      sb_putn(sb, at, (size_t)(digits + sizeof digits - at));
      f += 3;
    } else if (f[1] == '%') {
      sb_putc(sb, '%');
      f++;
    } else {
      return 0;
    }
  }
  return 1;
}

char *arena_printf(Arena *a, const char *fmt, ...) {
  StrBuf sb = {0};
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  if (!format_simple(&sb, fmt, ap)) {
    sb.len = 0;
    sb_vprintf(&sb, fmt, again);
  }
  va_end(again);
  va_end(ap);
  char *p = arena_strndup(a, sb.data ? sb.data : "", sb.len);
  sb_free(&sb);
  return p;
}

void arena_free(Arena *a) {
  ArenaBlock *b = a->head;
  while (b) {
    ArenaBlock *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
}

void ptrvec_push(Arena *a, PtrVec *v, void *item) {
  if (v->len == v->cap) {
    int cap = v->cap ? v->cap * 2 : 8;
    void **items = arena_alloc(a, sizeof(void *) * (size_t)cap);
    if (v->len) memcpy(items, v->items, sizeof(void *) * (size_t)v->len);
    v->items = items;
    v->cap = cap;
  }
  v->items[v->len++] = item;
}

static void sb_reserve(StrBuf *sb, size_t extra) {
  if (sb->len + extra + 1 <= sb->cap) return;
  size_t cap = sb->cap ? sb->cap : 64;
  while (cap < sb->len + extra + 1) cap *= 2;
  sb->data = xrealloc(sb->data, cap);
  sb->cap = cap;
}

void sb_putn(StrBuf *sb, const char *s, size_t n) {
  sb_reserve(sb, n);
  memcpy(sb->data + sb->len, s, n);
  sb->len += n;
  sb->data[sb->len] = 0;
}

void sb_putc(StrBuf *sb, char c) { sb_putn(sb, &c, 1); }
void sb_puts(StrBuf *sb, const char *s) { sb_putn(sb, s, strlen(s)); }

void sb_vprintf(StrBuf *sb, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return;
  sb_reserve(sb, (size_t)n);
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  sb->len += (size_t)n;
}

void sb_printf(StrBuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(sb, fmt, ap);
  va_end(ap);
}

char *sb_take(StrBuf *sb) {
  char *p = sb->data ? sb->data : xstrdup("");
  sb->data = NULL;
  sb->len = sb->cap = 0;
  return p;
}

void sb_free(StrBuf *sb) {
  free(sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
}

/* One allocation of the file's size where fstat knows it (a cache hit reads
 * a file per kernel), growing only for pipes and the like. */
char *read_file(const char *path, size_t *len, char **err) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    *err = xasprintf("cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  int sized = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0; /* /proc files say 0 */
  size_t want = sized ? (size_t)st.st_size : 0, cap = sized ? want + 1 : 65536, n = 0;
  char *buf = xmalloc(cap);
  while (!sized || n < want) {
    if (n + 1 == cap) buf = xrealloc(buf, cap *= 2);
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *err = xasprintf("cannot read '%s': %s", path, strerror(errno));
      close(fd);
      free(buf);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

double monotonic_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

char *path_dir(const char *path) {
  char *dir = xstrdup(path);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = 0;
  else if (slash)
    *slash = 0;
  else
    strcpy(dir, ".");
  return dir;
}
