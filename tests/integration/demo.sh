#!/usr/bin/env bash
# integration.demo: the README demo pipeline, shortened (ZERORL_DEMO_SHORT=1), end to end with
# the real daemons: every stage ran, rewards were computed, checkpoints load, metrics and
# report.json were written with fractions in [0, 1]. Usage: demo.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$(mktemp -d /tmp/zerorl-demo-XXXXXX)
trap 'rm -rf "$RUN"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ZERORL_DEMO_SHORT=1 ZERORL_DEMO_SKIP_DEPS=1 ZERORL_DEMO_SKIP_BUILD=1 ZERORL_DEMO_IPC=1 \
  ZERORL_BIN="$BUILD/tools/zerorl" ZERORL_DEMO_RUN_DIR="$RUN" "$SRC/examples/demo.sh" > "$RUN.log" 2>&1 ||
  { tail -40 "$RUN.log"; rm -f "$RUN.log"; fail "demo.sh failed"; }
grep -q "held-out accuracy on" "$RUN.log" || fail "no final report printed"
rm -f "$RUN.log"
for f in model-init/config.json data/train.jsonl data/sft.jsonl data/heldout.jsonl sft/metrics.jsonl \
         rl/metrics.jsonl rl/trained.jsonl eval-before-greedy.json eval-after-sampled.json report.json; do
  [ -s "$RUN/$f" ] || fail "missing $f"
done
# checkpoints of both training stages load
for stage in sft rl; do
  ck="$RUN/$stage/checkpoints/$(cat "$RUN/$stage/checkpoints/latest")"
  "$BUILD/tools/zerorl" model info "$ck" > /dev/null || fail "$stage checkpoint $ck does not load"
done
python3 - "$RUN" <<'PY'
import json, sys
run = sys.argv[1]
r = json.load(open(f"{run}/report.json"))
for k in ["heldout_accuracy_before_rl", "heldout_accuracy_after_rl", "heldout_pass1_sampled_before_rl",
          "heldout_pass1_sampled_after_rl"]:
    assert 0.0 <= r[k] <= 1.0, (k, r[k])
assert r["heldout_tasks"] == 40, r
assert r["rl_steps"] >= 1 and r["wall_seconds"] > 0, r
sft = [json.loads(l) for l in open(f"{run}/sft/metrics.jsonl")]
assert len(sft) >= 30 and sft[-1]["loss"] < sft[0]["loss"], "SFT loss did not fall"
rl = [json.loads(l) for l in open(f"{run}/rl/metrics.jsonl")]
assert all("reward_mean" in m and "reward_accuracy" in m for m in rl), "rewards missing from metrics"
assert any(m.get("reward_format", 0) > 0 for m in rl), "the format reward was never earned"
groups = [json.loads(l) for l in open(f"{run}/rl/trained.jsonl")]
keys = [(g["task_id"], g["epoch"]) for g in groups]
assert len(keys) == len(set(keys)), "a group was trained twice"
print("demo ok:", r)
PY
