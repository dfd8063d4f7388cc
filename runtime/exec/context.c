/* Context creation, backend choice, errors and the release of the in-memory
 * program cache (compile.c fills it). */
#include "context.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/host_cpu.h"

gmmc_status ctx_fail_take(gmmc_context *ctx, gmmc_status s, char *msg) {
  if (ctx) {
    free(ctx->error);
    ctx->error = msg;
    if (!msg) /* no memory for the message: the status and the failed allocation */
      snprintf(ctx->error_short, sizeof ctx->error_short, "%s (no memory left for its message)", gmmc_status_name(s));
  } else {
    free(msg);
  }
  return s;
}

gmmc_status ctx_oom(gmmc_context *ctx, const char *what) {
  char m[200];
  oom_message(m, sizeof m, what);
  if (!ctx) return GMMC_ERR_OUT_OF_MEMORY;
  /* the message's copy may fail too: then the short one */
  ctx_fail_take(ctx, GMMC_ERR_OUT_OF_MEMORY, xstrdup(m));
  if (!ctx->error) snprintf(ctx->error_short, sizeof ctx->error_short, "%s", m);
  return GMMC_ERR_OUT_OF_MEMORY;
}

gmmc_status ctx_fail(gmmc_context *ctx, gmmc_status s, const char *fmt, ...) {
  StrBuf sb = {0};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  return ctx_fail_take(ctx, s, sb_take(&sb));
}

void ctx_warn(gmmc_context *ctx, const char *fmt, ...) {
  if (!ctx->warn) return;
  StrBuf sb = {0};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  ctx->warn(ctx->warn_user, sb.data);
  sb_free(&sb);
}

/* The cache directory the environment names; 0, or -1 when out of memory. */
static int default_cache_dir(char **out) {
  *out = NULL;
  const char *off = getenv("GMMC_CACHE");
  if (off && strcmp(off, "0") == 0) return 0;
  const char *dir = getenv("GMMC_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (dir && *dir)
    *out = xstrdup(dir);
  else if (xdg && *xdg)
    *out = xasprintf("%s/gmmc", xdg);
  else if (home && *home)
    *out = xasprintf("%s/.cache/gmmc", home);
  else
    return 0;
  return *out ? 0 : -1;
}

/* The message of a failure that left no context to hold it (gmmc_last_error(NULL)). */
static _Thread_local char no_context_error[200];

/* A host CPU refused at context creation came from the environment: say so. */
static char *env_named(char *err, int from_env) {
  if (!from_env) return err;
  char *m = err ? xasprintf("GMMC_HOST_CPU: %s", err) : NULL;
  free(err);
  return m;
}

gmmc_status gmmc_context_create(gmmc_context **out, gmmc_backend backend) { return ctx_create(out, backend, -1, 0); }

gmmc_status ctx_create(gmmc_context **out, gmmc_backend backend, int device, int threads) {
  if (!out) return GMMC_ERR_INVALID_ARGUMENT;
  gmmc_context *ctx = xcalloc(1, sizeof *ctx);
  *out = ctx;
  if (!ctx) {
    oom_message(no_context_error, sizeof no_context_error, "the context");
    return GMMC_ERR_OUT_OF_MEMORY;
  }
  if (default_cache_dir(&ctx->cache_dir)) return ctx_oom(ctx, "the cache directory's name");
  const char *env = getenv("GMMC_BACKEND");
  if (backend == GMMC_BACKEND_AUTO && env && *env) {
    if (strcmp(env, "host") == 0)
      backend = GMMC_BACKEND_HOST;
    else if (strcmp(env, "cuda") == 0)
      backend = GMMC_BACKEND_CUDA;
    else if (strcmp(env, "auto") != 0)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "GMMC_BACKEND='%s': expected auto, host or cuda", env);
  }
  const char *devenv = getenv("GMMC_DEVICE");
  if (device < 0) device = devenv ? atoi(devenv) : 0;
  /* host threads: the caller's, else GMMC_THREADS, else the CPUs the process may use */
  const char *threnv = getenv("GMMC_THREADS");
  if (threads <= 0 && threnv && *threnv) {
    char *end;
    long t = strtol(threnv, &end, 10);
    if (*end || t < 1 || t > 4096)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "GMMC_THREADS='%s': expected a number of threads from 1 to 4096",
                      threnv);
    threads = (int)t;
  }
  ctx->threads = threads;
  const char *prof = getenv("GMMC_PROFILE");
  ctx->profile = prof && *prof && strcmp(prof, "0") != 0;
  const char *cpu = getenv("GMMC_HOST_CPU");
  ctx->host_cpu = cpu && *cpu ? xstrdup(cpu) : NULL;
  if (cpu && *cpu && !ctx->host_cpu) return ctx_oom(ctx, "the host CPU's name");
  const char *graphs = getenv("GMMC_GRAPHS"); /* 0: launches one by one, to compare against graphs */
  BackendConfig cfg = {.threads = threads,
                       .cache_dir = ctx->cache_dir,
                       .device = device,
                       .profile = ctx->profile,
                       .host_cpu = ctx->host_cpu,
                       .no_graphs = graphs && strcmp(graphs, "0") == 0};
  char *err = NULL;
  gmmc_status s;
  if (backend == GMMC_BACKEND_CUDA || backend == GMMC_BACKEND_AUTO) {
    s = backend_cuda_create(&cfg, &ctx->be, &err);
    if (s == GMMC_OK) {
      ctx->kind = GMMC_BACKEND_CUDA;
      return GMMC_OK;
    }
    if (backend == GMMC_BACKEND_CUDA || s != GMMC_ERR_NO_DEVICE) return ctx_fail_take(ctx, s, err);
    ctx->note = err;
    err = NULL;
  } else if (backend != GMMC_BACKEND_HOST) {
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "unknown backend %d", (int)backend);
  }
  s = backend_host_create(&cfg, &ctx->be, &err);
  if (s) return ctx_fail_take(ctx, s, env_named(err, cpu && *cpu));
  ctx->kind = GMMC_BACKEND_HOST;
  return GMMC_OK;
}

static void drop_compiled(gmmc_context *ctx) {
  for (int i = 0; i < ctx->ncompiled; i++) {
    ctx->be->ops->unload(ctx->be, ctx->compiled[i]->bp);
    program_free(ctx->compiled[i]->p);
    free(ctx->compiled[i]);
  }
  free(ctx->compiled);
  ctx->compiled = NULL;
  ctx->ncompiled = 0;
}

void gmmc_context_destroy(gmmc_context *ctx) {
  if (!ctx) return;
  if (ctx->be) {
    drop_compiled(ctx);
    ctx->be->ops->destroy(ctx->be);
  }
  if (ctx->dist) ctx->dist->ops->destroy(ctx->dist);
  free(ctx->error);
  for (int i = 0; i < ctx->nmany_errors; i++) free(ctx->many_errors[i]);
  free(ctx->many_errors);
  free(ctx->note);
  free(ctx->cache_dir);
  free(ctx->host_cpu);
  free(ctx);
}

gmmc_status ctx_agree(gmmc_context *ctx, gmmc_status s, double *vals, int n) {
  if (!ctx->dist) return s;
  char *msg = s ? xstrdup(ctx->error ? ctx->error : gmmc_status_name(s)) : NULL;
  gmmc_status r = ctx->dist->ops->agree(ctx->dist, s, &msg, vals, n);
  if (r) return ctx_fail_take(ctx, r, msg);
  free(msg);
  return GMMC_OK;
}

const char *gmmc_last_error(const gmmc_context *ctx) {
  if (!ctx) return *no_context_error ? no_context_error : "no context";
  return ctx->error ? ctx->error : ctx->error_short;
}

gmmc_backend gmmc_context_backend(const gmmc_context *ctx) { return ctx ? ctx->kind : GMMC_BACKEND_AUTO; }

const char *gmmc_context_device(const gmmc_context *ctx) { return ctx && ctx->be ? ctx->be->description : "none"; }

const char *gmmc_context_note(const gmmc_context *ctx) { return ctx ? ctx->note : NULL; }

Backend *ctx_backend(const gmmc_context *ctx) { return ctx->be; }

/* A new host backend with these threads and CPU in place of the old one;
 * the old one stays when the new one cannot be made. */
static gmmc_status rebuild_host(gmmc_context *ctx, int threads, const char *cpu) {
  BackendConfig cfg = {.threads = threads, .cache_dir = ctx->cache_dir, .profile = ctx->profile, .host_cpu = cpu};
  char *name = NULL;
  if (cpu != ctx->host_cpu && cpu && *cpu && !(name = xstrdup(cpu))) return ctx_oom(ctx, "the host CPU's name");
  Backend *be;
  char *err = NULL;
  gmmc_status s = backend_host_create(&cfg, &be, &err);
  if (s) {
    free(name);
    return ctx_fail_take(ctx, s, err);
  }
  drop_compiled(ctx);
  ctx->be->ops->destroy(ctx->be);
  ctx->be = be;
  ctx->threads = threads;
  if (cpu != ctx->host_cpu) {
    free(ctx->host_cpu);
    ctx->host_cpu = name;
  }
  return GMMC_OK;
}

gmmc_status gmmc_context_set_threads(gmmc_context *ctx, int threads) {
  if (!ctx || !ctx->be) return GMMC_ERR_INVALID_ARGUMENT;
  if (threads < 0) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "threads must be >= 0, got %d", threads);
  if (ctx->kind != GMMC_BACKEND_HOST) return GMMC_OK;
  return rebuild_host(ctx, threads, ctx->host_cpu);
}

gmmc_status gmmc_context_set_host_cpu(gmmc_context *ctx, const char *cpu) {
  if (!ctx || !ctx->be) return GMMC_ERR_INVALID_ARGUMENT;
  if (ctx->kind != GMMC_BACKEND_HOST) {
    /* checked all the same, so that a bad name is never silently kept */
    HostCpu hc;
    char *err = NULL;
    int rc = host_cpu_resolve(cpu, 1, &hc, &err);
    if (rc) return ctx_fail_take(ctx, rc < 0 ? GMMC_ERR_OUT_OF_MEMORY : GMMC_ERR_INVALID_ARGUMENT, err);
    host_cpu_free(&hc);
    char *name = NULL;
    if (cpu && *cpu && !(name = xstrdup(cpu))) return ctx_oom(ctx, "the host CPU's name");
    free(ctx->host_cpu);
    ctx->host_cpu = name;
    return GMMC_OK;
  }
  return rebuild_host(ctx, ctx->threads, cpu);
}

gmmc_status gmmc_context_set_cache_dir(gmmc_context *ctx, const char *dir) {
  if (!ctx) return GMMC_ERR_INVALID_ARGUMENT;
  char *mine = dir ? xstrdup(dir) : NULL, *backends = dir && ctx->be ? xstrdup(dir) : NULL;
  if (dir && (!mine || (ctx->be && !backends))) {
    free(mine);
    free(backends);
    return ctx_oom(ctx, "the cache directory's name");
  }
  free(ctx->cache_dir);
  ctx->cache_dir = mine;
  if (ctx->be) {
    free(ctx->be->cache_dir);
    ctx->be->cache_dir = backends;
  }
  return GMMC_OK;
}

void gmmc_context_set_warning_handler(gmmc_context *ctx, gmmc_message_fn fn, void *user) {
  if (!ctx) return;
  ctx->warn = fn;
  ctx->warn_user = user;
}

void gmmc_context_compile_stats(const gmmc_context *ctx, int *compiled, int *cached, double *ms) {
  if (compiled) *compiled = ctx ? ctx->n_compiled : 0;
  if (cached) *cached = ctx ? ctx->n_cached : 0;
  if (ms) *ms = ctx ? ctx->compile_ms : 0;
}
