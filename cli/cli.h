/* The gmmc command-line tool: one file per subcommand. */
#ifndef GMMC_CLI_H
#define GMMC_CLI_H

#include <stdint.h>

#include "../dsl/ast.h"

int cmd_compile(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "gmmc: error: ..." to stderr; returns 1 for `return cli_error(...)`. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads SPEC, a file path or the name of a shipped spec. NULL after printing
 * the error. */
Spec *cli_load_spec(const char *arg);

/* Parses "M=16,D=4" into one value per size of the spec. */
int cli_parse_sizes(const Spec *s, const char *text, int64_t *values);

int cli_write_output(const char *path, const char *text);

#endif
