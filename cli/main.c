/* gmmc: train Gaussian mixtures with specialized EM kernels. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gmmc/gmmc.h"

static const char usage[] = "usage: gmmc COMMAND [options]\n"
                            "\n"
                            "commands:\n"
                            "  fit DATA       train a mixture model on a data file (.npy, .csv, raw float32)\n"
                            "  predict MODEL DATA   label events with a trained model\n"
                            "  score MODEL DATA     mean log-likelihood of events under a model\n"
                            "  compile SPEC   dump the loop IR, LLVM IR, PTX or assembly of a specialization\n"
                            "  bench SPEC     time every code variant of a specialization\n"
                            "\n"
                            "`gmmc COMMAND --help` describes each command. `gmmc --version` prints the version.\n";

typedef struct {
  const char *name;
  int (*run)(int, char **);
} Command;

static const Command commands[] = {
    {"fit", cmd_fit}, {"predict", cmd_predict}, {"score", cmd_score}, {"compile", cmd_compile}, {"bench", cmd_bench},
};

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("gmmc %s\n", gmmc_version());
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
    if (strcmp(argv[1], commands[i].name) != 0) continue;
    for (int a = 2; a < argc; a++)
      if (strcmp(argv[a], "--version") == 0) {
        printf("gmmc %s\n", gmmc_version());
        return 0;
      }
    return commands[i].run(argc - 1, argv + 1);
  }
  fprintf(stderr, "gmmc: error: unknown command '%s'\n\n%s", argv[1], usage);
  return 2;
}
