#!/usr/bin/env bash
# sample_emu.sh: runs the GPU sampler's kernel on the CPU (sample_emu.cc: a SIMT emulation,
# 512 pthreads per block) against zr_sampler_pick, for machines without a GPU. Needs g++ and a
# build tree with libzr_model.a / libzr_common.a (any configuration).
#
#   bash tests/gpu/sample_emu.sh BUILD_DIR [VOCAB...]     # default vocabularies: 7 1000 5003
#
# About a minute per vocabulary on 2 cores (mostly thread creation); 151936 takes several minutes.
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:?usage: sample_emu.sh BUILD_DIR [VOCAB...]}
shift
vocabs=${*:-7 1000 5003}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk '/^#define NT 512/{f=1} /^\/\* ---- the op/{f=0} f' "$src/cuda/backend_cuda_sample.cu" >"$work/kernel_body.inc"
[ -s "$work/kernel_body.inc" ] || { echo "sample_emu: cannot cut the kernel out of backend_cuda_sample.cu"; exit 1; }
g++ -std=c++17 -O1 -ffp-contract=off -Wall -Wno-unused-function -I"$src" -I"$work" -o "$work/sample_emu" \
  "$here/sample_emu.cc" "$build/model/libzr_model.a" "$build/common/libzr_common.a" -lpthread -lm
rc=0
for v in $vocabs; do "$work/sample_emu" "$v" 1 || rc=1; done
exit $rc
