/* gmmc compile SPEC --sizes M=..,D=.. [--target nvptx|host] [--arch sm_90]
 *              [--dtype float32|float64] --emit loops|ir|ptx|asm [-o FILE] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compiler/target.h"

static const char usage[] = "usage: gmmc compile SPEC --sizes M=..,D=.. [options]\n"
                            "\n"
                            "Specializes SPEC (a file, or a shipped spec by name: gmm_full, kmeans, poisson,\n"
                            "bayesian_full, ... as gmmc fit --model lists them; full, diag, spherical, tied)\n"
                            "for the given sizes and prints what the compiler generates.\n"
                            "\n"
                            "  --sizes LIST       values of the fixed sizes, e.g. M=16,D=4\n"
                            "  --target T         nvptx (default) or host\n"
                            "  --arch A           GPU architecture (default sm_90) or host CPU name\n"
                            "  --ptx-version V    PTX ISA version, e.g. 78 (default: lowest that knows --arch)\n"
                            "  --dtype T          float32 (default) or float64\n"
                            "  --precision P      float32 (default), 3xtf32, tf32 or float64-stats (gmmc fit --help)\n"
                            "  --emit WHAT        loops (loop IR), ir (LLVM IR), ptx or asm (default: ptx for\n"
                            "                     nvptx, asm for host)\n"
                            "  --no-opt           show the LLVM IR before optimization\n"
                            "  --simple           only the simple variant of each statement (no GPU variants)\n"
                            "  --fuse             also the fusion groups' fused kernels (docs/architecture.md)\n"
                            "  --time             print the compile time to stderr\n"
                            "  -o FILE            write to FILE instead of standard output\n";

int cmd_compile(int argc, char **argv) {
  static const struct option opts[] = {{"sizes", required_argument, 0, 's'},
                                       {"target", required_argument, 0, 't'},
                                       {"arch", required_argument, 0, 'a'},
                                       {"ptx-version", required_argument, 0, 'p'},
                                       {"dtype", required_argument, 0, 'd'},
                                       {"emit", required_argument, 0, 'e'},
                                       {"no-opt", no_argument, 0, 'n'},
                                       {"time", no_argument, 0, 'T'},
                                       {"simple", no_argument, 0, 'S'},
                                       {"fuse", no_argument, 0, 'F'},
                                       {"precision", required_argument, 0, 'P'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *sizes = NULL, *target = "nvptx", *arch = NULL, *dtype = "float32", *emit = NULL, *out = NULL,
             *precision = "float32";
  int ptxv = 0, no_opt = 0, timing = 0, simple = 0, fuse = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    switch (c) {
    case 's': sizes = optarg; break;
    case 't': target = optarg; break;
    case 'a': arch = optarg; break;
    case 'p': ptxv = atoi(optarg); break;
    case 'd': dtype = optarg; break;
    case 'e': emit = optarg; break;
    case 'n': no_opt = 1; break;
    case 'T': timing = 1; break;
    case 'S': simple = 1; break;
    case 'F': fuse = 1; break;
    case 'P': precision = optarg; break;
    case 'o': out = optarg; break;
    case 'h': fputs(usage, stdout); return 0;
    default: fputs(usage, stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    fputs(usage, stderr);
    return 2;
  }
  TargetOptions topt = {.arch = arch, .ptx_version = ptxv, .no_opt = no_opt};
  if (strcmp(target, "nvptx") == 0)
    topt.kind = TARGET_NVPTX;
  else if (strcmp(target, "host") == 0)
    topt.kind = TARGET_HOST;
  else
    return cli_error("--target: expected nvptx or host, found '%s'", target);
  LType real;
  if (strcmp(dtype, "float32") == 0)
    real = LT_F32;
  else if (strcmp(dtype, "float64") == 0)
    real = LT_F64;
  else
    return cli_error("--dtype: expected float32 or float64, found '%s'", dtype);
  Precision prec;
  if (!precision_from_name(precision, &prec) || prec == PRECISION_BF16)
    return cli_error("--precision: expected float32, 3xtf32, tf32 or float64-stats, found '%s'", precision);
  if (!emit) emit = topt.kind == TARGET_NVPTX ? "ptx" : "asm";
  int what;
  if (strcmp(emit, "loops") == 0)
    what = -1;
  else if (strcmp(emit, "ir") == 0)
    what = EMIT_IR;
  else if (strcmp(emit, "ptx") == 0 || strcmp(emit, "asm") == 0)
    what = EMIT_ASM;
  else
    return cli_error("--emit: expected loops, ir, ptx or asm, found '%s'", emit);
  if (strcmp(emit, "ptx") == 0 && topt.kind != TARGET_NVPTX) return cli_error("--emit ptx needs --target nvptx");
  double t0 = monotonic_ms();
  Spec *s = cli_load_spec(argv[optind]);
  if (!s) return 1;
  int64_t values[64];
  if (s->sizes.len > 64 || cli_parse_sizes(s, sizes, values)) {
    spec_free(s);
    return 1;
  }
  char *err = NULL;
  LowerOptions lopt = {
      .real = real, .host = topt.kind == TARGET_HOST, .variants = !simple, .fuse = fuse, .precision = prec};
  /* the GPU lowered for is the default one (an H100) of --arch's compute
   * capability, so that no variant needs more than the architecture has
   * (the tensor-core ones: sm_80) */
  if (topt.kind == TARGET_NVPTX && arch && strncmp(arch, "sm_", 3) == 0 && atoi(arch + 3) >= 50) {
    lopt.target = target_desc_gpu_default();
    target_desc_set_cc(&lopt.target, atoi(arch + 3) / 10, atoi(arch + 3) % 10);
  }
  Program *p = lower_program(s, values, &lopt, &err);
  if (!p) {
    cli_error("%s", err);
    free(err);
    return 1;
  }
  double t1 = monotonic_ms();
  char *text = what < 0 ? program_dump(p) : target_emit(p, &topt, (EmitKind)what, &err);
  double t2 = monotonic_ms();
  int rc = 0;
  if (!text) {
    rc = cli_error("%s", err);
    free(err);
  } else {
    rc = cli_write_output(out, text);
  }
  if (timing)
    fprintf(stderr, "gmmc: front end and lowering %.2f ms, LLVM %.2f ms, %d kernels\n", t1 - t0, t2 - t1, p->nkernels);
  free(text);
  program_free(p);
  return rc;
}
