#!/usr/bin/env bash
# check.sh: the one GPU check. Builds zerorl with the CUDA backend, runs gpu_parity (CUDA vs CPU
# backend, op by op, the GPU sampler against the C sampler, bf16 mode, whole models), then
# benchmarks training-step and decode throughput of a small and a 0.5B-shaped model on the GPU
# in fp32 and bf16 against PyTorch in both (when torch + transformers import), and prints one
# summary table last: MFU against the dtype's peak, decode tokens/s against the HBM roofline,
# the sample op against downloading logits. Meant to finish in under 8 minutes on one H200: every
# step has a time limit, and benchmarks that would cross BUDGET_S are skipped (and say so).
#
#   bash tests/gpu/check.sh            # build dir: $ZERORL_GPU_BUILD (default /tmp/zerorl-gpu-build)
#   SKIP_BENCH=1 bash tests/gpu/check.sh   # parity only
#   PEAK_TFLOPS_F32=67 PEAK_TFLOPS_BF16=989 HBM_TBS=4.8   # H200 SXM dense peaks (the defaults)
#   BUDGET_S=450                       # seconds after which no new benchmark starts
#
# Without a GPU it still builds and runs the harness self-test (gpu_parity --self-test: CPU vs
# CPU), reports "no GPU: skipped" and exits 0. Exit 1 when the build or a parity check fails.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${ZERORL_GPU_BUILD:-/tmp/zerorl-gpu-build}
jobs=$(nproc 2>/dev/null || echo 4)
peak32=${PEAK_TFLOPS_F32:-${PEAK_TFLOPS:-67}}
peak16=${PEAK_TFLOPS_BF16:-989}
hbm=${HBM_TBS:-4.8}
budget=${BUDGET_S:-450}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
t_start=$(date +%s)
say() { printf '[check %4ss] %s\n' $(( $(date +%s) - t_start )) "$*"; }
status_parity="not run"

say "configure + build (CUDA on) in $build with $jobs jobs"
if ! { cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZERORL_CUDA=ON >"$build.configure.log" 2>&1 &&
       cmake --build "$build" -j"$jobs" --target gpu_parity gpu_bench gpu_dist >"$build.build.log" 2>&1; }; then
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
timeout 240 "$bin/gpu_parity" 2>&1 | tee "$build.parity.log"
rc=${PIPESTATUS[0]}
gpu=1
case $rc in
  0) status_parity="passed" ;;
  77) status_parity="no GPU: skipped"; gpu=0 ;;
  *) status_parity="FAILED (exit $rc)" ;;
esac
summary=$(grep -E '^gpu_parity: [0-9]+ passed' "$build.parity.log" | tail -1)

# NCCL (learner groups): world 1 through the NCCL path on one GPU; with >= 2 GPUs also a 2-rank
# group trained against world 1, and a rank killed mid-step (tests/gpu/gpu_dist.c)
status_dist="not run"
if [ "$gpu" = 1 ]; then
  say "gpu_dist (NCCL)"
  timeout 240 "$build/learner/gpu_dist" 2>&1 | tee "$build.dist.log"
  case ${PIPESTATUS[0]} in 0) status_dist="passed" ;; 77) status_dist="skipped" ;; *) status_dist="FAILED" ;; esac
fi

elapsed() { echo $(( $(date +%s) - t_start )); }
if [ "$gpu" = 1 ] && [ "${SKIP_BENCH:-0}" != 1 ]; then
  have_torch=0
  python3 -c 'import torch, transformers; assert torch.cuda.is_available()' >/dev/null 2>&1 && have_torch=1
  small="--batch 8 --seq 256 --steps 3 --decode-seqs 16 --prompt 32 --new 128"
  half="--batch 4 --seq 512 --steps 3 --decode-seqs 16 --prompt 32 --new 64"
  # engine|shape|dtype|arguments|time limit (s); in order of importance (the budget cuts the tail)
  for spec in "zerorl|0.5b|f32|$half|120" "zerorl|0.5b|bf16|$half|100" "torch|0.5b|f32|$half|120" \
              "torch|0.5b|bf16|$half|100" "zerorl|small|f32|$small|60" "zerorl|small|bf16|$small|60" \
              "torch|small|f32|$small|60" "torch|small|bf16|$small|60"; do
    IFS='|' read -r eng shape dt args lim <<<"$spec"
    if [ "$eng" = torch ] && [ "$have_torch" != 1 ]; then continue; fi
    if [ $(( $(elapsed) + lim )) -gt "$budget" ]; then
      echo "{\"engine\":\"$eng\",\"dtype\":\"$dt\",\"shape\":\"$shape\",\"error\":\"skipped: the ${budget}s budget is spent\"}" >>"$results"
      continue
    fi
    say "bench $eng $shape $dt"
    log="$build.bench.$eng.$shape.$dt.err"
    if [ "$eng" = zerorl ]; then
      # shellcheck disable=SC2086
      timeout "$lim" "$bin/gpu_bench" --shape "$shape" --dtype "$dt" $args >>"$results" 2>"$log" ||
        echo "{\"engine\":\"zerorl-cuda\",\"dtype\":\"$dt\",\"shape\":\"$shape\",\"error\":\"exit $? (see $log)\"}" >>"$results"
    else
      # shellcheck disable=SC2086
      timeout "$lim" python3 "$here/torch_bench.py" --shape "$shape" --dtype "$dt" $args 2>"$log" | tail -1 >>"$results" ||
        echo "{\"engine\":\"torch-cuda\",\"dtype\":\"$dt\",\"shape\":\"$shape\",\"error\":\"failed (see $log)\"}" >>"$results"
    fi
  done
  [ "$have_torch" = 1 ] || say "torch/transformers not importable or no CUDA in torch: PyTorch rows skipped"
fi

echo
echo "================================ summary ================================"
printf '%-22s %s\n' "parity" "$status_parity${summary:+ ($summary)}"
printf '%-22s %s\n' "nccl (gpu_dist)" "$status_dist"
if [ -s "$results" ]; then
  python3 - "$results" "$peak32" "$peak16" "$hbm" <<'PY'
import json, sys
rows = []
for l in open(sys.argv[1]):
    l = l.strip()
    if l.startswith("{"):
        try:
            rows.append(json.loads(l))
        except ValueError:
            rows.append({"engine": "?", "shape": "?", "error": "unreadable line: " + l[:60]})
peak = {"f32": float(sys.argv[2]), "bf16": float(sys.argv[3])}
bw = float(sys.argv[4]) * 1e12
print(f"{'engine':<12}{'dtype':<6}{'shape':<7}{'params':>8}{'train tok/s':>12}{'step s':>8}{'TFLOP/s':>9}{'MFU':>7}"
      f"{'loss 0->N':>15}{'decode tok/s':>13}{'roofline':>10}{'of roof':>8}")
for r in rows:
    dt = r.get("dtype", "f32")
    if "error" in r:
        print(f"{r.get('engine', '?'):<12}{dt:<6}{r.get('shape', '?'):<7}  {r['error']}")
        continue
    mfu = 100 * r["train_tflops"] / peak.get(dt, peak["f32"])
    roof = r["decode_seqs"] * bw / r["decode_step_bytes"] if r.get("decode_step_bytes") else float("nan")
    print(f"{r['engine'].replace('-cuda', ''):<12}{dt:<6}{r['shape']:<7}{r['params']/1e6:>7.0f}M{r['train_tokens_per_s']:>12.0f}"
          f"{r['train_step_s']:>8.3f}{r['train_tflops']:>9.2f}{mfu:>6.1f}%{r['loss_first']:>7.3f}->{r['loss_last']:<6.3f}"
          f"{r['decode_tokens_per_s']:>13.0f}{roof:>10.0f}{100 * r['decode_tokens_per_s'] / roof:>7.1f}%")
for r in rows:
    if "error" not in r and r.get("sample_op_ms", -1) >= 0:
        print(f"sample op ({r['engine']} {r['dtype']} {r['shape']}): {r['sample_rows']} rows in {r['sample_op_ms']:.2f} ms on the GPU "
              f"vs {r['sample_host_ms']:.2f} ms downloading + zr_sampler_pick; bf16 gemms {r.get('bf16_gemms', 0)}, "
              f"fp32 fallbacks {r.get('fp32_fallbacks', 0)}")
print(f"(MFU = model FLOPs 6*params*tokens + causal attention, per second, over a dense peak of {peak['f32']:g} TFLOP/s "
      f"(f32) / {peak['bf16']:g} (bf16); roofline = decode sequences x {bw/1e12:g} TB/s / bytes one decode step reads "
      "(weights in the GEMM dtype + KV cache at the mean context); decode tok/s includes prefill)")
PY
elif [ "$gpu" = 1 ]; then
  echo "benchmarks: skipped (SKIP_BENCH=1)"
else
  echo "benchmarks: no GPU: skipped"
fi
say "done"
case $status_dist in FAILED) exit 1 ;; esac
case $status_parity in passed|"no GPU: skipped") exit 0 ;; *) exit 1 ;; esac
