/* gmmc fit --many DIR: every .npy file of DIR (in name order) trained with
 * the same options in one gmmc_fit_many call, a model per file written to
 * OUTDIR/<name>.yaml (OUTDIR: -o, else DIR). A file that fails (unreadable,
 * too few events, a singular covariance) is reported with its name and
 * does not stop the others; the exit code is then 1. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dsl/util.h"

static int is_npy(const struct dirent *e) {
  size_t n = strlen(e->d_name);
  return n > 4 && e->d_name[0] != '.' && strcmp(e->d_name + n - 4, ".npy") == 0;
}

int cli_fit_many(gmmc_context *ctx, const char *dir, const char *outdir, gmmc_fit_options *fo) {
  struct dirent **list = NULL;
  int n = scandir(dir, &list, is_npy, alphasort);
  if (n < 0) return cli_error("--many %s: cannot read the directory: %s", dir, strerror(errno));
  struct stat st;
  if (n == 0 || stat(outdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
    if (n == 0) return cli_error("--many %s: no .npy file in the directory", dir);
    return cli_error("-o %s: with --many, -o names an existing directory for the models", outdir);
  }
  int rc = 1, loaded = 0, failed = 0;
  gmmc_data **data = xcalloc((size_t)n, sizeof *data);
  const gmmc_fit_options **opts = xcalloc((size_t)n, sizeof *opts);
  gmmc_model **models = xcalloc((size_t)n, sizeof *models);
  gmmc_status *status = xcalloc((size_t)n, sizeof *status);
  char **paths = xcalloc((size_t)n, sizeof *paths);
  int *index = xcalloc((size_t)n, sizeof *index); /* the files that loaded, in the call's order */
  if (!data || !opts || !models || !status || !paths || !index) {
    cli_error("out of memory for %d files", n);
    goto done;
  }
  for (int i = 0; i < n; i++) {
    if (!(paths[i] = xasprintf("%s/%s", dir, list[i]->d_name))) {
      cli_error("out of memory for the file names");
      goto done;
    }
    if (gmmc_data_load(ctx, paths[i], 0, &data[loaded])) {
      fprintf(stderr, "gmmc: %s: failed: %s\n", list[i]->d_name, gmmc_last_error(ctx));
      failed++;
      continue;
    }
    opts[loaded] = fo;
    index[loaded++] = i;
  }
  if (loaded == 0) goto done;
  gmmc_status s = gmmc_fit_many(ctx, loaded, (const gmmc_data *const *)data, opts, models, status);
  int refused = s != GMMC_OK; /* the call itself refused (no fit ran): every status its, no fit's message */
  for (int k = 0; k < loaded && refused; k++) refused = status[k] == s && !gmmc_fit_many_error(ctx, k);
  if (refused) {
    cli_error("%s", gmmc_last_error(ctx));
    goto done;
  }
  for (int k = 0; k < loaded; k++) {
    const char *name = list[index[k]]->d_name;
    if (status[k]) {
      const char *m = gmmc_fit_many_error(ctx, k);
      fprintf(stderr, "gmmc: %s: failed: %s\n", name, m ? m : gmmc_status_name(status[k]));
      failed++;
      continue;
    }
    size_t len = strlen(name) - 4; /* without .npy */
    char *out = xasprintf("%s/%.*s.yaml", outdir, (int)len, name);
    if (!out) {
      cli_error("out of memory for a model's path");
      goto done;
    }
    if (gmmc_model_save(ctx, models[k], out)) {
      fprintf(stderr, "gmmc: %s: failed: %s\n", name, gmmc_last_error(ctx));
      failed++;
    } else {
      printf("%s: %lld events, %s after %d iterations, lower bound %.10g -> %s\n", name,
             (long long)gmmc_data_rows(data[k]), gmmc_model_converged(models[k]) ? "converged" : "did not converge",
             gmmc_model_n_iter(models[k]), gmmc_model_lower_bound(models[k]), out);
    }
    free(out);
  }
  printf("gmmc fit --many: %d files, %d models written, %d failed, on %s\n", n, n - failed, failed,
         gmmc_context_device(ctx));
  rc = failed ? 1 : 0;
done:
  for (int k = 0; models && k < loaded; k++) gmmc_model_destroy(models[k]);
  for (int k = 0; data && k < loaded; k++) gmmc_data_destroy(data[k]);
  for (int i = 0; i < n; i++) {
    if (paths) free(paths[i]);
    free(list[i]);
  }
  free(list);
  free(data);
  free(opts);
  free(models);
  free(status);
  free(paths);
  free(index);
  return rc;
}
