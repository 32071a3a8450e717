#!/usr/bin/env bash
# `zerorl plot` as a user runs it: a synthetic metrics.jsonl (per-component rewards under both
# spellings, a line without some fields, a line without a step) drawn as PNG and SVG, checked
# by their magic bytes / <svg root; and the errors: no metrics.jsonl, a malformed line (named
# by its line number), nothing to plot, bad options. Usage: plot_cli.sh PATH/TO/zerorl
# Exit 77 when gnuplot is not installed (deploy/install-deps.sh installs gnuplot-nox).
set -u
zerorl=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS PATTERN -- command...: checks the exit status and that the output matches
expect() {
  local want=$1 pattern=$2
  shift 3
  local out status
  out=$("$@" 2>&1)
  status=$?
  [[ $status -eq $want ]] || fail "'$*' exited $status, expected $want; output: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "'$*' output does not match /$pattern/: $out"
}

# errors that do not need gnuplot
expect 2 'usage: zerorl plot' -- "$zerorl" plot
expect 0 'usage: zerorl plot' -- "$zerorl" plot --help
expect 2 "--format gif: expected png or svg" -- "$zerorl" plot "$tmp" --format gif
expect 2 "unknown option '--bogus'" -- "$zerorl" plot "$tmp" --bogus
expect 1 "$tmp/missing/metrics.jsonl: No such file or directory" -- "$zerorl" plot "$tmp/missing"
mkdir -p "$tmp/bad"
printf '{"step": 1, "reward_mean": 0.1}\n{"step": 2, "reward_mean": 0.2}\n{"step": 3, "reward_mean": \n' >"$tmp/bad/metrics.jsonl"
expect 1 "metrics.jsonl:3: malformed JSON" -- "$zerorl" plot "$tmp/bad"
printf '{"step": 1}\n[1, 2]\n' >"$tmp/bad/metrics.jsonl"
expect 1 "metrics.jsonl:2: expected a JSON object" -- "$zerorl" plot "$tmp/bad"
printf '{"step": "one", "kl": 1}\n' >"$tmp/bad/metrics.jsonl"
expect 1 "metrics.jsonl:1: field 'step' must be a number" -- "$zerorl" plot "$tmp/bad"
printf '{"step": 1, "lr": 1e-6}\n' >"$tmp/bad/metrics.jsonl"
expect 1 "nothing to plot" -- "$zerorl" plot "$tmp/bad"
: >"$tmp/bad/metrics.jsonl"
expect 1 "no metrics" -- "$zerorl" plot "$tmp/bad"

if ! command -v gnuplot >/dev/null 2>&1; then
  # the missing-gnuplot error, then skip the drawing checks
  mkdir -p "$tmp/run"
  echo '{"step": 1, "kl": 0.1}' >"$tmp/run/metrics.jsonl"
  expect 1 "gnuplot is not installed" -- "$zerorl" plot "$tmp/run"
  [[ $fails -eq 0 ]] || exit 1
  echo "SKIP: gnuplot is not installed"
  exit 77
fi
# gnuplot missing from PATH gives a clear error (PATH without it; the tool itself by full path)
mkdir -p "$tmp/nogp" "$tmp/run"
echo '{"step": 1, "kl": 0.1}' >"$tmp/run/metrics.jsonl"
expect 1 "gnuplot is not installed" -- env PATH="$tmp/nogp" "$zerorl" plot "$tmp/run"

# a synthetic run: 40 steps, components as reward/<x> and reward_<x>, gaps, a step-less line
python3 - "$tmp/run/metrics.jsonl" <<'PY'
import json, math, sys
with open(sys.argv[1], "w") as f:
    for s in range(1, 41):
        m = {"step": s, "reward_mean": 0.2 + 0.015 * s, "reward_std": 0.3,
             "reward/accuracy": min(1.0, 0.01 * s), "reward_format": 0.5 + 0.01 * s,
             "accuracy": 0.01 * s, "response_len_mean": 200 + 10 * s, "response_len_max": 900 + s,
             "kl": 0.001 * s, "entropy": 1.5 - 0.01 * s, "lr": 1e-6, "phase": "train"}
        if s % 7 == 0:
            del m["kl"]          # a gap
        f.write(json.dumps(m) + "\n")
        if s == 20:
            f.write("\n")        # blank lines are skipped
PY
out=$("$zerorl" plot "$tmp/run" 2>&1) || fail "plot png: $out"
for name in reward accuracy response_length kl entropy; do
  f=$tmp/run/plots/$name.png
  [[ -s $f ]] || { fail "$f not written ($out)"; continue; }
  [[ $(head -c 8 "$f" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$f is not a PNG"
  grep -qF "$f" <<<"$out" || fail "plot did not print $f"
done
out=$("$zerorl" plot "$tmp/run" --format svg --out "$tmp/svg/nested" 2>&1) || fail "plot svg: $out"
for name in reward accuracy response_length kl entropy; do
  f=$tmp/svg/nested/$name.svg
  [[ -s $f ]] || { fail "$f not written ($out)"; continue; }
  grep -q '<svg' "$f" || fail "$f has no <svg element"
  grep -q '</svg>' "$f" || fail "$f is truncated"
done
# every reward component is drawn (legend titles in the SVG), reward_std is not
for t in reward_mean reward/accuracy reward_format; do
  grep -qF ">$t<" "$tmp/svg/nested/reward.svg" || fail "reward.svg has no series $t"
done
grep -qF ">reward_std<" "$tmp/svg/nested/reward.svg" && fail "reward.svg draws reward_std"

# only some fields present: those figures only
mkdir -p "$tmp/partial"
printf '{"step": 1, "kl": 0.1}\n{"step": 2, "kl": 0.2, "entropy": 1.0}\n' >"$tmp/partial/metrics.jsonl"
out=$("$zerorl" plot "$tmp/partial" --format svg 2>&1) || fail "partial: $out"
[[ -s $tmp/partial/plots/kl.svg && -s $tmp/partial/plots/entropy.svg ]] || fail "partial: kl/entropy not drawn: $out"
[[ -e $tmp/partial/plots/reward.svg ]] && fail "partial: reward.svg drawn without reward fields"

[[ $fails -eq 0 ]] && echo "plot_cli: ok"
[[ $fails -eq 0 ]]
