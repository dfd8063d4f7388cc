/* Malformed specs must fail with the right message at the right place.
 *
 *   front_bad_specs DIR        every DIR/NAME.yaml starts with the line
 *                              "# expect: <first line of the message>"; the spec
 *                              is loaded as NAME.yaml and must fail with exactly
 *                              that first line, followed by the source line the
 *                              position names and a caret under that column.
 *   front_bad_specs --random [COUNT] [SEED]
 *                              random byte strings and random token mutations of
 *                              the shipped specs: spec_load never crashes, and
 *                              either loads or fails with "<name>:...: error: ...".
 *                              The seed comes from the clock unless given here
 *                              or in GMMC_TEST_SEED; it is printed so that a
 *                              failure can be replayed. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsl/ast.h"
#include "dsl/shipped.h"

static int failures;

#define FAIL(...)                                                                                                      \
  do {                                                                                                                 \
    fprintf(stderr, "FAIL: ");                                                                                         \
    fprintf(stderr, __VA_ARGS__);                                                                                      \
    fputc('\n', stderr);                                                                                               \
    failures++;                                                                                                        \
  } while (0)

/* Line `n` (1-based) of `text`, or NULL: a malloc'd copy without its break. */
static char *nth_line(const char *text, int n) {
  const char *p = text;
  for (int i = 1; i < n && p; i++) {
    p = strchr(p, '\n');
    if (p) p++;
  }
  if (!p) return NULL;
  size_t len = strcspn(p, "\r\n");
  char *out = malloc(len + 1);
  memcpy(out, p, len);
  out[len] = 0;
  return out;
}

/* The i-th line (0-based) of a message, malloc'd, or NULL. */
static char *msg_line(const char *msg, int i) { return nth_line(msg, i + 1); }

/* Prints expected and found lines with a marker under the first difference. */
static void show_diff(const char *name, const char *want, const char *got) {
  size_t i = 0;
  while (want[i] && want[i] == got[i]) i++;
  fprintf(stderr, "FAIL: %s: wrong first line of the message\n", name);
  fprintf(stderr, "  expected: %s\n  found:    %s\n            %*s^ (first difference, byte %zu)\n", want, got, (int)i,
          "", i);
  failures++;
}

/* Columns count characters (UTF-8 sequences count once), as the messages do. */
static int char_count(const char *s, size_t n) {
  int c = 0;
  for (size_t i = 0; i < n && s[i]; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
  return c;
}

/* The message shows the source line of line:col and a caret at col. */
static void check_shape(const char *name, const char *text, const char *msg) {
  char fmt_name[300];
  snprintf(fmt_name, sizeof fmt_name, "%s:", name);
  int line = 0, col = 0;
  if (sscanf(msg + strlen(fmt_name), "%d:%d:", &line, &col) != 2) {
    FAIL("%s: the message has no line:col: %s", name, msg);
    return;
  }
  char *src = nth_line(text, line), *shown = msg_line(msg, 1), *caret = msg_line(msg, 2);
  if (!src || !shown || !caret) {
    FAIL("%s: the message lacks the source line or the caret line:\n%s", name, msg);
  } else {
    /* a long line is shown as a window: "  ...text..." */
    int window = strncmp(shown, "  ...", 5) == 0 || (strlen(shown) > 5 && !strcmp(shown + strlen(shown) - 3, "..."));
    int skipped = 0; /* characters of the line left out before the window */
    if (!window) {
      if (strncmp(shown, "  ", 2) != 0 || strcmp(shown + 2, src) != 0)
        FAIL("%s: the second line of the message is not source line %d\n  expected: '  %s'\n  found:    '%s'", name,
             line, src, shown);
    } else {
      const char *body = shown + 2;
      int lead = strncmp(body, "...", 3) == 0;
      if (lead) body += 3;
      size_t blen = strlen(body);
      if (blen >= 3 && !strcmp(body + blen - 3, "...") && strlen(src) > (size_t)(body - shown)) blen -= 3;
      char *part = strndup(body, blen);
      const char *at = strstr(src, part);
      if (!at)
        FAIL("%s: the window '%s' is not part of source line %d", name, part, line);
      else
        skipped = char_count(src, (size_t)(at - src)) - (lead ? 3 : 0);
      free(part);
    }
    const char *hat = strchr(caret, '^');
    size_t k = 2;
    int only_space = strncmp(caret, "  ", 2) == 0;
    while (only_space && caret + k < hat) only_space = caret[k] == ' ' || caret[k] == '\t', k++;
    if (!hat || !only_space) {
      FAIL("%s: the third line of the message is not a caret line: '%s'", name, caret);
    } else {
      int at = char_count(caret + 2, (size_t)(hat - caret - 2)) + 1 + skipped;
      if (at != col) FAIL("%s: the caret is under column %d, the message says column %d", name, at, col);
      for (const char *t = hat + 1; *t; t++)
        if (*t != '~') {
          FAIL("%s: the caret line continues with '%c', expected only '~'", name, *t);
          break;
        }
    }
  }
  free(src);
  free(shown);
  free(caret);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_corpus(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "cannot open the corpus directory %s\n", dir);
    return 1;
  }
  char **names = NULL;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) {
      names = realloc(names, sizeof(char *) * (size_t)(n + 1));
      names[n++] = strdup(e->d_name);
    }
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof(char *), by_name);
  if (n < 35) FAIL("the corpus %s holds %d specs, expected at least 35", dir, n);
  for (int i = 0; i < n; i++) {
    char path[4096], *err = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    size_t len;
    char *text = read_file(path, &len, &err);
    if (!text) {
      FAIL("%s", err);
      free(err);
      continue;
    }
    char *first = nth_line(text, 1);
    if (strncmp(first, "# expect: ", 10) != 0) {
      FAIL("%s: the first line must be '# expect: <message>', found '%s'", names[i], first);
    } else {
      const char *want = first + 10;
      Spec *s = spec_load(names[i], text, len, &err);
      if (s) {
        FAIL("%s: loaded, but it should fail with\n  %s", names[i], want);
        spec_free(s);
      } else {
        char *got = msg_line(err, 0);
        if (strcmp(got, want) != 0) {
          show_diff(names[i], want, got);
          fprintf(stderr, "  full message:\n%s", err);
        } else {
          check_shape(names[i], text, err);
        }
        free(got);
        free(err);
      }
    }
    free(first);
    free(text);
    free(names[i]);
  }
  free(names);
  printf("%d malformed specs checked, %d failure%s\n", n, failures, failures == 1 ? "" : "s");
  return failures != 0;
}

/* ---- random inputs -------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

typedef struct {
  const char *p;
  size_t n;
} Tok;

/* Splits text into tokens: names and numbers, runs of blanks, line breaks,
 * single punctuation characters. */
static int tokenize(const char *t, size_t len, Tok *out, int cap) {
  int n = 0;
  for (size_t i = 0; i < len && n < cap;) {
    size_t j = i + 1;
    unsigned char c = (unsigned char)t[i];
    if (c == '_' || c == '.' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80) {
      while (j < len) {
        unsigned char d = (unsigned char)t[j];
        if (!(d == '_' || d == '.' || (d >= '0' && d <= '9') || ((d | 32) >= 'a' && (d | 32) <= 'z') || d >= 0x80))
          break;
        j++;
      }
    } else if (c == ' ') {
      while (j < len && t[j] == ' ') j++;
    }
    out[n].p = t + i;
    out[n].n = j - i;
    n++;
    i = j;
  }
  return n;
}

static const char *const extra[] = {"[",
                                    "]",
                                    "(",
                                    ")",
                                    ",",
                                    ":",
                                    "- ",
                                    "\n",
                                    "  ",
                                    "'",
                                    "\"",
                                    "#",
                                    "|",
                                    ">",
                                    "&&",
                                    "==",
                                    "<",
                                    "=",
                                    "*",
                                    "/",
                                    "+",
                                    "-",
                                    "!",
                                    "sum",
                                    "max(",
                                    "min",
                                    "argmax",
                                    "logsumexp",
                                    "n",
                                    "m",
                                    "d",
                                    "N",
                                    "M",
                                    "D",
                                    "X",
                                    "eps",
                                    "pi",
                                    "1e400",
                                    "0.5",
                                    "{",
                                    "}",
                                    "&a",
                                    "*a",
                                    "---",
                                    "\t",
                                    "\r\n",
                                    "\xc3\xa9",
                                    "\xe2\x80\xa8",
                                    "\xc2\x85",
                                    "precision_cholesky(",
                                    "select(",
                                    "mstep:",
                                    "estep:\n  - ",
                                    "\xff",
                                    "\x01"};

static char *mutate(const char *text, size_t len, size_t *out_len) {
  enum { CAP = 8192 };
  static Tok tok[CAP];
  int n = tokenize(text, len, tok, CAP);
  int edits = 1 + (int)below(4);
  for (int e = 0; e < edits && n > 0; e++) {
    int i = (int)below((size_t)n);
    switch (below(5)) {
    case 0: /* delete */
      memmove(tok + i, tok + i + 1, sizeof(Tok) * (size_t)(n - i - 1));
      n--;
      break;
    case 1: /* insert a token of the spec or an interesting one */
      if (n < CAP) {
        memmove(tok + i + 1, tok + i, sizeof(Tok) * (size_t)(n - i));
        if (below(2)) {
          tok[i] = tok[below((size_t)n)];
        } else {
          const char *x = extra[below(sizeof extra / sizeof *extra)];
          tok[i].p = x;
          tok[i].n = strlen(x);
        }
        n++;
      }
      break;
    case 2: { /* swap two tokens */
      int j = (int)below((size_t)n);
      Tok t = tok[i];
      tok[i] = tok[j];
      tok[j] = t;
      break;
    }
    case 3: { /* swap neighbours */
      if (i + 1 < n) {
        Tok t = tok[i];
        tok[i] = tok[i + 1];
        tok[i + 1] = t;
      }
      break;
    }
    default: /* replace */ tok[i] = tok[below((size_t)n)]; break;
    }
  }
  size_t total = 0;
  for (int i = 0; i < n; i++) total += tok[i].n;
  char *out = malloc(total + 1), *w = out;
  for (int i = 0; i < n; i++) {
    memcpy(w, tok[i].p, tok[i].n);
    w += tok[i].n;
  }
  *w = 0;
  *out_len = total;
  return out;
}

static char *random_bytes(size_t *out_len) {
  size_t len = below(400);
  char *out = malloc(len + 1);
  int mode = (int)below(3);
  static const char yamlish[] = "abcXYZnmd01234 :-[]{},#'\"\n\n  |>&*!%@=+/()<>.";
  for (size_t i = 0; i < len; i++) {
    if (mode == 0)
      out[i] = (char)below(256); /* anything */
    else if (mode == 1)
      out[i] = (char)(32 + below(95)); /* printable ASCII */
    else
      out[i] = yamlish[below(sizeof yamlish - 1)];
  }
  out[len] = 0;
  *out_len = len;
  return out;
}

/* Returns 1 if the input loaded. */
static int check_random(const char *name, const char *text, size_t len, uint64_t seed, int i) {
  char *err = NULL;
  Spec *s = spec_load(name, text, len, &err);
  if (s) {
    if (err) FAIL("seed %llu input %d: loaded and set a message too: %s", (unsigned long long)seed, i, err);
    spec_free(s);
    return 1;
  }
  size_t nl = strlen(name);
  if (!err || strncmp(err, name, nl) != 0 || err[nl] != ':' || !strstr(err, ": error: ")) {
    FAIL("seed %llu input %d: the message does not begin with '%s:' or lacks ': error: ':\n%s",
         (unsigned long long)seed, i, name, err ? err : "(no message)");
    fwrite(text, 1, len, stderr);
    fputc('\n', stderr);
  } else if (!memchr(text, 0, len)) {
    /* every message with a position shows the line and a caret */
    char *third = msg_line(err, 2);
    if (!third || !strchr(third, '^')) {
      FAIL("seed %llu input %d: the message has no caret line:\n%s", (unsigned long long)seed, i, err);
    }
    free(third);
  }
  free(err);
  return 0;
}

static int run_random(int count, uint64_t seed) {
  printf("random specs: seed %llu, %d inputs (replay: front_bad_specs --random %d %llu)\n", (unsigned long long)seed,
         count, count, (unsigned long long)seed);
  fflush(stdout);
  rng_state = seed;
  int loaded = 0;
  for (int i = 0; i < count && failures < 10; i++) {
    size_t len;
    char *text;
    char name[32];
    if (i % 4 == 0) {
      text = random_bytes(&len);
      snprintf(name, sizeof name, "random%d.yaml", i);
    } else {
      const ShippedSpec *sh = &shipped_specs[below((size_t)shipped_spec_count)];
      text = mutate(sh->text, sh->len, &len);
      snprintf(name, sizeof name, "mutant%d.yaml", i);
    }
    loaded += check_random(name, text, len, seed, i);
    free(text);
  }
  printf("%d inputs, %d loaded, %d failure%s\n", count, loaded, failures, failures == 1 ? "" : "s");
  return failures != 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--random") == 0) {
    int count = argc >= 3 ? atoi(argv[2]) : 20000;
    const char *env = getenv("GMMC_TEST_SEED");
    uint64_t seed = argc >= 4     ? strtoull(argv[3], NULL, 10)
                    : env && *env ? strtoull(env, NULL, 10)
                                  : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    return run_random(count, seed);
  }
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR | --random [COUNT] [SEED]\n", argv[0]);
    return 2;
  }
  return run_corpus(argv[1]);
}
