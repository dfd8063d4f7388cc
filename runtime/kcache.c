#include "kcache.h"

#include <errno.h>
#include <fcntl.h>
#include <llvm-c/Core.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gmmc/gmmc.h"

/* Entries start with this header so that a truncated or foreign file is a miss. */
typedef struct {
  char magic[8];
  uint64_t key;
  uint64_t size;
  uint64_t check;
} EntryHeader;

uint64_t kcache_key(const Program *p, const char *target) {
  char *ir = program_dump(p);
  uint64_t h = fnv1a(FNV1A_INIT, ir, strlen(ir));
  free(ir);
  unsigned major, minor, patch;
  LLVMGetVersion(&major, &minor, &patch);
  char versions[128];
  snprintf(versions, sizeof versions, "gmmc %s llvm %u.%u.%u %s", gmmc_version(), major, minor, patch, target);
  return fnv1a(h, versions, strlen(versions));
}

static char *entry_path(const char *dir, uint64_t key, const char *ext) {
  return xasprintf("%s/%016llx.%s", dir, (unsigned long long)key, ext);
}

void *kcache_get(const char *dir, uint64_t key, const char *ext, size_t *size) {
  char *path = entry_path(dir, key, ext), *err = NULL;
  size_t len;
  char *bytes = read_file(path, &len, &err);
  free(path);
  free(err);
  if (!bytes) return NULL;
  EntryHeader h;
  if (len < sizeof h) goto miss;
  memcpy(&h, bytes, sizeof h);
  if (memcmp(h.magic, "gmmcKC1", 8) != 0 || h.key != key || h.size != len - sizeof h ||
      h.check != fnv1a(FNV1A_INIT, bytes + sizeof h, (size_t)h.size))
    goto miss;
  void *out = xmalloc((size_t)h.size + 1);
  memcpy(out, bytes + sizeof h, (size_t)h.size);
  free(bytes);
  *size = (size_t)h.size;
  return out;
miss:
  free(bytes);
  return NULL;
}

static int write_all(int fd, const void *data, size_t size) {
  const char *p = data;
  while (size) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    p += n;
    size -= (size_t)n;
  }
  return 1;
}

static void make_dirs(const char *dir) {
  char *d = xstrdup(dir);
  for (char *p = d + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(d, 0755);
      *p = '/';
    }
  mkdir(d, 0755);
  free(d);
}

void kcache_put(const char *dir, uint64_t key, const char *ext, const void *data, size_t size) {
  make_dirs(dir);
  char *path = entry_path(dir, key, ext);
  char *tmp = xasprintf("%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd >= 0) {
    EntryHeader h = {.key = key, .size = size, .check = fnv1a(FNV1A_INIT, data, size)};
    memcpy(h.magic, "gmmcKC1", 8);
    int ok = write_all(fd, &h, sizeof h) && write_all(fd, data, size);
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
  }
  free(tmp);
  free(path);
}
