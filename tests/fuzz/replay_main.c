/* Replays inputs through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer: the regression tests of tests/robust and the seed corpus run
 * through the same entry points in every build (and under the sanitizers in
 * the GMMC_SANITIZE build).
 *
 *   replay_TARGET FILE|DIR...   runs every file (directories: their regular
 *                               files, sorted), prints one line per file */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 1;
  }
  size_t cap = 4096, n = 0;
  unsigned char *buf = malloc(cap);
  for (size_t r; (r = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += r;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  printf("replay: %s (%zu bytes)\n", path, n);
  fflush(stdout);
  /* an exact-size copy, as libFuzzer gives, so that ASan sees any overread */
  unsigned char *exact = malloc(n ? n : 1);
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  int bad = 0, count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      bad |= run_file(argv[i]);
      count++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    char **names = NULL;
    int nn = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
      if (e->d_name[0] == '.') continue;
      names = realloc(names, sizeof(char *) * (size_t)(nn + 1));
      names[nn++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    if (nn) qsort(names, (size_t)nn, sizeof *names, cmp);
    for (int k = 0; k < nn; k++) {
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", argv[i], names[k]);
      if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        bad |= run_file(path);
        count++;
      }
      free(names[k]);
    }
    free(names);
  }
  printf("replay: %d inputs, no crash\n", count);
  return bad;
}
