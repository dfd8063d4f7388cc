/* See fuzz_common.h. */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz_common.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int memfd = -1;
static char memfd_path[64];

const char *fuzz_file(const uint8_t *data, size_t size) {
  if (memfd < 0) {
    memfd = memfd_create("gmmc-fuzz", MFD_CLOEXEC);
    if (memfd < 0) {
      perror("fuzz: memfd_create");
      abort();
    }
    snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
  }
  if (ftruncate(memfd, 0) != 0) {
    perror("fuzz: ftruncate");
    abort();
  }
  size_t done = 0;
  while (done < size) {
    ssize_t w = pwrite(memfd, data + done, size - done, (off_t)done);
    if (w <= 0) {
      perror("fuzz: pwrite");
      abort();
    }
    done += (size_t)w;
  }
  return memfd_path;
}

static char scratch[4096];

static void remove_scratch(void) {
  DIR *d = opendir(scratch);
  if (d) {
    for (struct dirent *e; (e = readdir(d));) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char p[8192];
      snprintf(p, sizeof p, "%s/%s", scratch, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(scratch);
}

const char *fuzz_scratch_dir(void) {
  if (scratch[0]) return scratch;
  struct stat st;
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
  snprintf(scratch, sizeof scratch, "%s/gmmc-fuzz-XXXXXX", base);
  if (!mkdtemp(scratch)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(remove_scratch);
  return scratch;
}

uint64_t fuzz_hash(const uint8_t *data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 0x100000001b3ULL;
  return h;
}

void fuzz_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s:%d: property violated: ", file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}
