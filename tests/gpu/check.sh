#!/usr/bin/env bash
# check.sh: the one GPU check. Builds zerorl with the CUDA backend, runs gpu_parity (CUDA vs CPU
# backend, op by op and whole models), then benchmarks training-step and decode throughput of a
# small and a 0.5B-shaped model on the GPU against PyTorch (when torch + transformers import),
# and prints one summary table last. Meant to finish in under 8 minutes on one H100/H200.
#
#   bash tests/gpu/check.sh            # build dir: $ZERORL_GPU_BUILD (default /tmp/zerorl-gpu-build)
#   SKIP_BENCH=1 bash tests/gpu/check.sh   # parity only
#   PEAK_TFLOPS=67 ...                 # the fp32 peak the MFU column divides by (H100/H200 SXM: 67)
#
# Without a GPU it still builds and runs the harness self-test (gpu_parity --self-test: CPU vs
# CPU), reports "no GPU: skipped" and exits 0. Exit 1 when the build or a parity check fails.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${ZERORL_GPU_BUILD:-/tmp/zerorl-gpu-build}
jobs=$(nproc 2>/dev/null || echo 4)
peak=${PEAK_TFLOPS:-67}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
t_start=$(date +%s)
say() { printf '[check %4ss] %s\n' $(( $(date +%s) - t_start )) "$*"; }
status_parity="not run"

say "configure + build (CUDA on) in $build with $jobs jobs"
if ! { cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZERORL_CUDA=ON >"$build.configure.log" 2>&1 &&
       cmake --build "$build" -j"$jobs" --target gpu_parity gpu_bench >"$build.build.log" 2>&1; }; then
  tail -30 "$build.configure.log" "$build.build.log" 2>/dev/null
  say "BUILD FAILED"
  exit 1
fi
bin="$build/cuda"

say "harness self-test (cpu vs cpu)"
if ! timeout 120 "$bin/gpu_parity" --self-test >"$build.selftest.log" 2>&1; then
  cat "$build.selftest.log"; say "harness self-test FAILED"; exit 1
fi

say "gpu_parity (cuda vs cpu)"
timeout 300 "$bin/gpu_parity" 2>&1 | tee "$build.parity.log"
rc=${PIPESTATUS[0]}
gpu=1
case $rc in
  0) status_parity="passed" ;;
  77) status_parity="no GPU: skipped"; gpu=0 ;;
  *) status_parity="FAILED (exit $rc)" ;;
esac
summary=$(grep -E '^gpu_parity: [0-9]+ passed' "$build.parity.log" | tail -1)

if [ "$gpu" = 1 ] && [ "${SKIP_BENCH:-0}" != 1 ]; then
  have_torch=0
  python3 -c 'import torch, transformers; assert torch.cuda.is_available()' >/dev/null 2>&1 && have_torch=1
  # shape: name, gpu_bench/torch_bench arguments, time limit per run
  for spec in "small|--batch 8 --seq 256 --steps 3 --decode-seqs 16 --prompt 32 --new 128|90" \
              "0.5b|--batch 4 --seq 512 --steps 3 --decode-seqs 16 --prompt 32 --new 64|150"; do
    IFS='|' read -r shape args lim <<<"$spec"
    say "bench zerorl $shape"
    # shellcheck disable=SC2086
    timeout "$lim" "$bin/gpu_bench" --shape "$shape" $args >>"$results" 2>"$build.bench.$shape.err" ||
      { echo "{\"engine\":\"zerorl-cuda\",\"shape\":\"$shape\",\"error\":\"exit $? (see $build.bench.$shape.err)\"}" >>"$results"; }
    if [ "$have_torch" = 1 ]; then
      say "bench torch $shape"
      # shellcheck disable=SC2086
      timeout "$lim" python3 "$here/torch_bench.py" --shape "$shape" $args 2>"$build.torch.$shape.err" | tail -1 >>"$results" ||
        echo "{\"engine\":\"torch-cuda\",\"shape\":\"$shape\",\"error\":\"failed (see $build.torch.$shape.err)\"}" >>"$results"
    fi
  done
  [ "$have_torch" = 1 ] || say "torch/transformers not importable or no CUDA in torch: PyTorch rows skipped"
fi

echo
echo "================================ summary ================================"
printf '%-22s %s\n' "parity" "$status_parity${summary:+ ($summary)}"
if [ -s "$results" ]; then
  python3 - "$results" "$peak" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
peak = float(sys.argv[2])
print(f"{'engine':<14}{'shape':<7}{'params':>8}{'train tok/s':>13}{'step s':>9}{'TFLOP/s':>9}{'MFU':>7}{'loss 0->N':>16}{'decode tok/s':>14}")
for r in rows:
    if "error" in r:
        print(f"{r['engine']:<14}{r['shape']:<7}  {r['error']}")
        continue
    print(f"{r['engine']:<14}{r['shape']:<7}{r['params']/1e6:>7.0f}M{r['train_tokens_per_s']:>13.0f}{r['train_step_s']:>9.3f}"
          f"{r['train_tflops']:>9.2f}{100*r['train_tflops']/peak:>6.1f}%{r['loss_first']:>8.3f}->{r['loss_last']:<6.3f}"
          f"{r['decode_tokens_per_s']:>14.0f}")
print(f"(MFU = model FLOPs 6*params*tokens + causal attention, per second, over an fp32 peak of {peak:g} TFLOP/s; "
      "decode tok/s includes prefill)")
PY
elif [ "$gpu" = 1 ]; then
  echo "benchmarks: skipped (SKIP_BENCH=1)"
else
  echo "benchmarks: no GPU: skipped"
fi
say "done"
case $status_parity in passed|"no GPU: skipped") exit 0 ;; *) exit 1 ;; esac
