#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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

/* A failed allocation returns NULL (never aborts: the caller turns it into
 * GMMC_ERR_OUT_OF_MEMORY) and is recorded for the caller's message. */
static _Thread_local AllocFailure last_failure;

static void *failed(size_t n, const char *site) {
  last_failure.bytes = n;
  last_failure.site = site;
  return NULL;
}

AllocFailure alloc_last_failure(void) { return last_failure; }

void oom_message(char *buf, size_t size, const char *what) {
  snprintf(buf, size, "out of memory: %zu bytes for %s (at %s)", last_failure.bytes, what,
           last_failure.site ? last_failure.site : "?");
}

char *oom_text(const char *what) {
  char m[256];
  oom_message(m, sizeof m, what);
  return xstrdup(m);
}

void *xmalloc_at(size_t n, const char *site) {
  if (fault_hit(FAULT_ALLOC, site)) return failed(n, site);
  void *p = malloc(n ? n : 1);
  return p ? p : failed(n, site);
}

void *xcalloc_at(size_t n, size_t size, const char *site) {
  if (size && n > SIZE_MAX / size) return failed(SIZE_MAX, site);
  if (fault_hit(FAULT_ALLOC, site)) return failed(n * size, site);
  void *p = calloc(n ? n : 1, size ? size : 1);
  return p ? p : failed(n * size, site);
}

/* On failure p is untouched (still the caller's to free), as with realloc. */
void *xrealloc_at(void *p, size_t n, const char *site) {
  if (fault_hit(FAULT_ALLOC, site)) return failed(n, site);
  void *q = realloc(p, n ? n : 1);
  return q ? q : failed(n, site);
}

void *xaligned_alloc_at(size_t align, size_t n, const char *site) {
  if (fault_hit(FAULT_ALLOC, site)) return failed(n, site);
  void *p = aligned_alloc(align, n);
  return p ? p : failed(n, site);
}

char *xstrdup_at(const char *s, const char *site) {
  size_t n = strlen(s);
  char *p = xmalloc_at(n + 1, site);
  if (p) memcpy(p, s, n + 1);
  return p;
}

char *xasprintf_at(const char *site, const char *fmt, ...) {
  StrBuf sb = {.site = site};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  return sb_take(&sb);
}

static void *arena_fail(Arena *a) {
  a->failed = 1;
  if (a->escape) longjmp(*a->escape, 1);
  return NULL;
}

void *arena_alloc(Arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  ArenaBlock *b = a->head;
  if (!b || b->used + size > b->cap) {
    size_t cap = size > 65536 ? size : 65536;
    /* zeroed once, not allocation by allocation: arenas are never rewound */
    b = xcalloc_at(1, sizeof(ArenaBlock) + cap, GMMC_SITE);
    if (!b) return arena_fail(a);
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
  if (!p) return NULL;
  memcpy(p, s, n);
  return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_adopt(Arena *a, char *s) {
  /* copied without escaping, so that a failure frees s first */
  jmp_buf *escape = a->escape;
  a->escape = NULL;
  char *p = s ? arena_strdup(a, s) : NULL;
  a->escape = escape;
  free(s);
  return p ? p : arena_fail(a);
}

char *arena_take(Arena *a, StrBuf *sb) { return arena_adopt(a, sb_take(sb)); }

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
  return arena_take(a, &sb);
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
    if (!items) return;
    if (v->len) memcpy(items, v->items, sizeof(void *) * (size_t)v->len);
    v->items = items;
    v->cap = cap;
  }
  v->items[v->len++] = item;
}

/* A buffer that cannot grow stops taking text and remembers it: its writers
 * check once, at sb_take or where they use the text. */
static int sb_reserve(StrBuf *sb, size_t extra) {
  if (sb->failed) return 0;
  if (sb->len + extra + 1 <= sb->cap) return 1;
  size_t cap = sb->cap ? sb->cap : 64;
  while (cap < sb->len + extra + 1) cap *= 2;
  char *data = xrealloc_at(sb->data, cap, sb->site ? sb->site : GMMC_SITE);
  if (!data) {
    sb->failed = 1;
    return 0;
  }
  sb->data = data;
  sb->cap = cap;
  return 1;
}

void sb_putn(StrBuf *sb, const char *s, size_t n) {
  if (!sb_reserve(sb, n)) return;
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
  if (n < 0 || !sb_reserve(sb, (size_t)n)) return;
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
  char *p = sb->failed ? NULL : sb->data ? sb->data : xstrdup_at("", sb->site ? sb->site : GMMC_SITE);
  if (sb->failed) free(sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
  sb->failed = 0;
  return p;
}

void sb_free(StrBuf *sb) {
  free(sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
  sb->failed = 0;
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
  if (!buf) {
    close(fd);
    *err = xasprintf("out of memory: %zu bytes to read '%s'", cap, path);
    return NULL;
  }
  while (!sized || n < want) {
    if (n + 1 == cap) {
      char *bigger = xrealloc(buf, cap * 2);
      if (!bigger) {
        close(fd);
        free(buf);
        *err = xasprintf("out of memory: %zu bytes to read '%s'", cap * 2, path);
        return NULL;
      }
      buf = bigger;
      cap *= 2;
    }
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

int write_all_at(int fd, const void *data, size_t size, const char *site) {
  const char *p = data;
  (void)site;
#ifdef GMMC_FAULT_INJECTION
  /* an injected fault is a full disk met midway: half written, then ENOSPC */
  if (fault_hit(FAULT_WRITE, site)) {
    if (size >= 2 && write(fd, p, size / 2) < 0) return -1;
    errno = ENOSPC;
    return -1;
  }
#endif
  while (size) {
    ssize_t n = write(fd, p, size > (1u << 30) ? (1u << 30) : size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    p += n;
    size -= (size_t)n;
  }
  return 0;
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
  if (!dir) return NULL;
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = 0;
  else if (slash)
    *slash = 0;
  else
    strcpy(dir, ".");
  return dir;
}
