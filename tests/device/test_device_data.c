/* gmmc_data_wrap_device's refusals, on a context of the host backend (no
 * GPU needed): every bad argument named, then device data given to a host
 * context refused with what to do instead, and gmmc_data_on_device of host
 * data -1. What the GPU does with device data is tests/gpu/device_arrays.sh's
 * (PyTorch tensors on an H100). */
#include <string.h>

#include "check.h"
#include "gmmc/gmmc.h"

static gmmc_context *ctx;

static void refused(int status, const char *needle, const char *what) {
  const char *msg = gmmc_last_error(ctx);
  CHECK(status == GMMC_ERR_INVALID_ARGUMENT, "%s: status %d, expected GMMC_ERR_INVALID_ARGUMENT", what, status);
  CHECK(strstr(msg, needle) != NULL, "%s: the message '%s' does not say '%s'", what, msg, needle);
  printf("  refused %-30s %s\n", what, msg);
}

int main(void) {
  if (gmmc_context_create(&ctx, GMMC_BACKEND_HOST)) {
    printf("FAIL context: %s\n", gmmc_last_error(ctx));
    return 1;
  }
  static double host[64];
  const void *fake = (const void *)(uintptr_t)0x7f0000000000ull; /* never dereferenced: refused first */
  gmmc_data *d = NULL;
  refused(gmmc_data_wrap_device(ctx, NULL, 0, GMMC_FLOAT32, 10, 2, 0, 0, NULL, &d), "a NULL argument", "NULL");
  refused(gmmc_data_wrap_device(ctx, fake, 0, (gmmc_dtype)7, 10, 2, 0, 0, NULL, &d), "dtype", "dtype 7");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_DTYPE_AUTO, 10, 2, 0, 0, NULL, &d), "dtype", "dtype auto");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_FLOAT32, 0, 2, 0, 0, NULL, &d), "bad shape (0, 2)", "0 rows");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_FLOAT32, 10, 0, 0, 0, NULL, &d), "bad shape (10, 0)", "0 cols");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_FLOAT32, 10, 2, 0, 1, NULL, &d), "must be >= 1",
          "a broadcast row stride");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_FLOAT32, 10, 2, -2, 1, NULL, &d), "must be >= 1", "a reversed view");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_FLOAT32, 10, 2, 2, -1, NULL, &d), "must be >= 1",
          "a negative column stride");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_FLOAT64, (int64_t)1 << 40, 2, (int64_t)1 << 40, 1, NULL, &d),
          "overflow", "strides that overflow");
  refused(gmmc_data_wrap_device(ctx, (const char *)fake + 2, 0, GMMC_FLOAT32, 10, 2, 0, 0, NULL, &d), "not aligned",
          "a misaligned address");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_FLOAT32, 10, 2, 2, 1, NULL, &d), "this context runs on the host",
          "C order on the host");
  refused(gmmc_data_wrap_device(ctx, fake, 0, GMMC_FLOAT64, 10, 2, 1, 10, NULL, &d), "this context runs on the host",
          "F order on the host");
  CHECK(d == NULL, "a handle was made");
  CHECK(gmmc_data_on_device(NULL) == -1, "NULL data on a device");
  gmmc_data *h = NULL;
  CHECK(!gmmc_data_wrap(ctx, host, GMMC_FLOAT64, 32, 2, &h), "wrap: %s", gmmc_last_error(ctx));
  CHECK(gmmc_data_on_device(h) == -1, "host data on device %d", gmmc_data_on_device(h));
  gmmc_data_destroy(h);
  gmmc_context_destroy(ctx);
  if (failures) printf("test_device_data: %d failures\n", failures);
  return failures ? 1 : 0;
}
