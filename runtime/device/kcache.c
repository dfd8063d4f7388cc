#define _GNU_SOURCE /* dl_iterate_phdr */
#include "kcache.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
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

uint64_t kcache_digest_key(uint64_t h, const char *target) {
  unsigned major, minor, patch;
  LLVMGetVersion(&major, &minor, &patch);
  char versions[128];
  snprintf(versions, sizeof versions, "gmmc %s llvm %u.%u.%u %s", gmmc_version(), major, minor, patch, target);
  return fnv1a(h, versions, strlen(versions));
}

uint64_t kcache_key(const Program *p, const char *target) {
  uint64_t h = p->digest;
  if (!h) {
    char *ir = program_dump(p);
    h = fnv1a(FNV1A_INIT, ir, strlen(ir));
    free(ir);
  }
  return kcache_digest_key(h, target);
}

typedef struct {
  uintptr_t code;  /* an address inside the object wanted */
  uint64_t digest; /* FNV-1a of its build ID, 0 if none */
} BuildIdSearch;

static int find_build_id(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  BuildIdSearch *q = arg;
  int inside = 0;
  for (int i = 0; i < info->dlpi_phnum && !inside; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    inside = ph->p_type == PT_LOAD && q->code >= lo && q->code < lo + ph->p_memsz;
  }
  if (!inside) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const char *at = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = at + ph->p_memsz;
    while (at + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)at;
      const char *name = at + sizeof *n, *desc = name + ((n->n_namesz + 3) & ~3u);
      if (desc + n->n_descsz > end) break;
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 && n->n_descsz > 0) {
        q->digest = fnv1a(FNV1A_INIT, desc, n->n_descsz);
        return 1;
      }
      at = desc + ((n->n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

/* This library's build ID, hashed; 0 when it has none. */
static uint64_t build_digest(void) {
  BuildIdSearch q = {.code = (uintptr_t)&build_digest};
  dl_iterate_phdr(find_build_id, &q);
  return q.digest;
}

uint64_t kcache_code_salt(const char *target) {
  uint64_t b = build_digest();
  return kcache_digest_key(fnv1a(FNV1A_INIT, &b, sizeof b), target);
}

uint64_t kcache_code_key(uint64_t salt, uint64_t code_digest) { return fnv1a(salt, &code_digest, sizeof code_digest); }

uint64_t kcache_source_digest(const char *spec_text, const int64_t *values, int nvalues, const LowerOptions *o) {
  uint64_t b = build_digest();
  if (!b) return 0;
  uint64_t h = fnv1a(b, spec_text, strlen(spec_text) + 1);
  h = fnv1a(h, values, sizeof(int64_t) * (size_t)nvalues);
  int opts[] = {(int)o->real, o->host,           o->chunks,          o->variants,   o->fuse,
                o->weighted,  (int)o->precision, o->no_tensor_cores, o->host_fast32};
  h = fnv1a(h, opts, sizeof opts);
  /* the description as the lowering sees it (an unfilled one is the
   * default), every field: it holds ints only, so no padding */
  TargetDesc t = target_desc_or_default(&o->target);
  h = fnv1a(h, &t, sizeof t);
  return h ? h : 1;
}

/* The entry's checksum: FNV-1a over 64-bit words, eight times fewer steps
 * than bytes (a cache hit checks every byte of its cubins). */
static uint64_t checksum(const void *data, size_t size) {
  const unsigned char *b = data;
  uint64_t h = FNV1A_INIT ^ size;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    memcpy(&w, b + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return fnv1a(h, b + i, size - i);
}

static char *entry_path(const char *dir, uint64_t key, const char *ext) {
  return xasprintf("%s/%016llx.%s", dir, (unsigned long long)key, ext);
}

void *kcache_get(const char *dir, uint64_t key, const char *ext, size_t *size) {
  char *path = entry_path(dir, key, ext), *err = NULL;
  if (!path) return NULL; /* out of memory: a miss, as a cache may always have */
  size_t len = 0;
  char *bytes = read_file(path, &len, &err);
  free(path);
  free(err);
  if (!bytes) return NULL;
  EntryHeader h;
  if (len < sizeof h) goto miss;
  memcpy(&h, bytes, sizeof h);
  if (memcmp(h.magic, "gmmcKC2", 8) != 0 || h.key != key || h.size != len - sizeof h ||
      h.check != checksum(bytes + sizeof h, (size_t)h.size))
    goto miss;
  memmove(bytes, bytes + sizeof h, (size_t)h.size);
  *size = (size_t)h.size;
  return bytes;
miss:
  free(bytes);
  return NULL;
}

static void make_dirs(const char *dir) {
  char *d = xstrdup(dir);
  if (!d) return;
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
  /* out of memory: nothing cached, as after any failed write */
  char *path = entry_path(dir, key, ext), *tmp = path ? xasprintf("%s.XXXXXX", path) : NULL;
  int fd = tmp ? mkstemp(tmp) : -1;
  if (fd >= 0) {
    EntryHeader h = {.key = key, .size = size, .check = checksum(data, size)};
    memcpy(h.magic, "gmmcKC2", 8);
    int ok = write_all(fd, &h, sizeof h) == 0 && write_all(fd, data, size) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
  }
  free(tmp);
  free(path);
}
