/* zerorl version: versions of zerorl, the protocol, the libraries, and the GPUs seen. */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <uv.h>
#include <xxhash.h>
#include <zmq.h>

#include "common/frame.h"
#include "tools/commands.h"
#ifdef ZERORL_HAVE_CUDA
#include "cuda/device.h"
#endif

#ifndef ZERORL_GIT_COMMIT
#define ZERORL_GIT_COMMIT "unknown"
#endif

int zr_cmd_version(int argc, char **argv) {
  if (zr_cmd_wants_help(argc, argv)) {
    printf("usage: zerorl version\n\nPrints zerorl's version and commit, the wire protocol version, the\n"
           "versions of the libraries it runs on, and the CUDA devices this process can see.\n");
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "zerorl version: unexpected argument '%s'\n", argv[1]);
    return 2;
  }
  int zmaj, zmin, zpat;
  zmq_version(&zmaj, &zmin, &zpat);
  printf("zerorl %s (commit %s)\n", ZERORL_VERSION, ZERORL_GIT_COMMIT);
  printf("protocol %d\n", ZR_PROTOCOL_VERSION);
  printf("libzmq %d.%d.%d, libuv %s, hiredis %d.%d.%d, protobuf-c %s, jansson %s, xxhash %u\n", zmaj, zmin, zpat,
         uv_version_string(), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, protobuf_c_version(), JANSSON_VERSION,
         XXH_versionNumber());
#ifdef ZERORL_HAVE_CUDA
  char rt[32], why[256];
  zr_cuda_runtime_version(rt, sizeof rt);
  int n = zr_cuda_device_count(why, sizeof why);
  printf("cuda backend: built (runtime %s), %d device%s%s%s%s\n", rt, n, n == 1 ? "" : "s", n ? "" : " (",
         n ? "" : why, n ? "" : ")");
  for (int i = 0; i < n; i++) {
    char name[256];
    size_t mem = 0;
    if (zr_cuda_device_info(i, name, sizeof name, &mem) == 0)
      printf("  cuda:%d %s, %.1f GiB\n", i, name, (double)mem / (1024.0 * 1024 * 1024));
  }
#else
  printf("cuda backend: not built (configure with -DZERORL_CUDA=ON where nvcc is installed)\n");
#endif
  return 0;
}

