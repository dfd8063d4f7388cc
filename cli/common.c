#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dsl/shipped.h"

int cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("gmmc: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

Spec *cli_load_spec(const char *arg) {
  struct stat st;
  char *err = NULL;
  Spec *s;
  if (stat(arg, &st) == 0) {
    size_t len;
    char *text = read_file(arg, &len, &err);
    if (!text) {
      cli_error("%s", err);
      free(err);
      return NULL;
    }
    s = spec_load(arg, text, len, &err);
    free(text);
  } else {
    const ShippedSpec *sh = shipped_spec(arg);
    if (!sh) {
      cli_error("'%s' is neither a spec file nor a shipped spec (full, diag, spherical, tied, kmeans)", arg);
      return NULL;
    }
    s = spec_load(sh->file, sh->text, sh->len, &err);
  }
  if (!s) {
    fputs(err, stderr);
    free(err);
  }
  return s;
}

int cli_parse_sizes(const Spec *s, const char *text, int64_t *values) {
  for (int i = 0; i < s->sizes.len; i++) values[i] = 0;
  const char *p = text ? text : "";
  while (*p) {
    const char *eq = strchr(p, '=');
    if (!eq) return cli_error("--sizes: expected NAME=VALUE, found '%s'", p);
    size_t n = (size_t)(eq - p);
    int id = -1;
    for (int i = 0; i < s->sizes.len; i++)
      if (strlen(spec_size(s, i)->name) == n && strncmp(spec_size(s, i)->name, p, n) == 0) id = i;
    if (id < 0) return cli_error("--sizes: '%.*s' is not a size of %s", (int)n, p, s->model);
    if (spec_size(s, id)->is_event)
      return cli_error("--sizes: %s is the event count, known only at run time", spec_size(s, id)->name);
    char *end;
    errno = 0;
    long long v = strtoll(eq + 1, &end, 10);
    if (end == eq + 1 || errno || v <= 0 || (*end && *end != ','))
      return cli_error("--sizes: %.*s needs a positive integer", (int)n, p);
    values[id] = v;
    p = *end ? end + 1 : end;
  }
  for (int i = 0; i < s->sizes.len; i++)
    if (!spec_size(s, i)->is_event && values[i] == 0)
      return cli_error("--sizes: missing %s (%s needs a value for every size but the event count %s)",
                       spec_size(s, i)->name, s->model, spec_size(s, s->event_size)->name);
  return 0;
}

int cli_write_output(const char *path, const char *text) {
  if (!path || strcmp(path, "-") == 0) {
    fputs(text, stdout);
    return 0;
  }
  FILE *f = fopen(path, "w");
  if (!f) return cli_error("cannot write '%s': %s", path, strerror(errno));
  fputs(text, f);
  if (fclose(f)) return cli_error("cannot write '%s': %s", path, strerror(errno));
  return 0;
}

int cli_same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Before any work: the directory of an output file must exist and be
 * writable, so that a long fit does not end in "cannot create". Prints the
 * error and returns 1, or returns 0. */
int cli_check_output_dir(const char *path) {
  if (!path || strcmp(path, "-") == 0) return 0;
  char *dir = path_dir(path);
  struct stat st;
  int rc = 0;
  if (stat(dir, &st) != 0)
    rc = cli_error("cannot write '%s': directory '%s': %s", path, dir, strerror(errno));
  else if (!S_ISDIR(st.st_mode))
    rc = cli_error("cannot write '%s': '%s' is not a directory", path, dir);
  else if (access(dir, W_OK | X_OK) != 0)
    rc = cli_error("cannot write '%s': directory '%s': %s", path, dir, strerror(errno));
  free(dir);
  return rc;
}
