#!/usr/bin/env bash
# bench/sandbox.sh: what the code sandbox adds to a Python run.
#
#   bench/sandbox.sh [BUILD_DIR]      (default: build-sbx, then build)
#
# Latency (hyperfine, medians) of `python3 -I -S -c 'print(1)'`:
#   bare          the command itself
#   bwrap         bubblewrap with comparable isolation: user/pid/net/ipc/uts/cgroup namespaces,
#                 read-only /usr, /proc, /dev, a tmpfs work dir, new session, no capabilities
#                 (bwrap has no seccomp filter, rlimits or cgroups of its own)
#   zerorl        zerorl-sandbox exec: the same jail as the reward workers (namespaces, mounts,
#                 seccomp, rlimits, no_new_privs, a per-run cgroup when available), including the
#                 cost of starting the zerorl-sandbox program itself
#   zerorl-nocg   the same without the cgroup (rlimits only)
# then the library without the program start (`zerorl-sandbox bench`): every jailed run of main.py
# is followed by the same command run bare, on 1, 2 and 4 threads, so both see the same load;
# medians, added latency and runs per second of both (and once more without the cgroup).
# RUNS=N (default 100). The numbers move with the host's load, which the first line shows.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-}
if [ -z "$BUILD" ]; then
  for b in build-sbx build; do [ -x "$b/reward/zerorl-sandbox" ] && BUILD=$b && break; done
fi
SBX=${BUILD:-build}/reward/zerorl-sandbox
[ -x "$SBX" ] || { echo "bench/sandbox.sh: $SBX not built (cmake --build BUILD --target zerorl-sandbox)" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "bench/sandbox.sh: needs hyperfine (apt-get install -y hyperfine)" >&2; exit 2; }
RUNS=${RUNS:-100}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'print(1)' > "$tmp/p1.py"

BWRAP=(bwrap --unshare-all --die-with-parent --new-session --cap-drop ALL --clearenv --setenv PATH /usr/bin
  --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64
  --symlink usr/sbin /sbin --ro-bind /etc/ld.so.cache /etc/ld.so.cache --proc /proc --dev /dev
  --tmpfs /work --chdir /work)
q() { printf '%q ' "$@"; }

echo "host: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $("$SBX" info | head -1)"
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$tmp/lat.json" \
  -n bare "$(q $PY -I -S -c 'print(1)')" \
  -n bwrap "$(q "${BWRAP[@]}" $PY -I -S -c 'print(1)')" \
  -n zerorl "$(q "$SBX" exec -- $PY -I -S -c 'print(1)')" \
  -n zerorl-nocg "$(q "$SBX" exec --no-cgroup -- $PY -I -S -c 'print(1)')" >/dev/null

for j in 1 2 4; do
  "$SBX" bench --lang python3 -n $((RUNS * 2)) -j "$j" "$tmp/p1.py" >> "$tmp/lib.jsonl" || true
done
NOCG_JSON=$("$SBX" bench --no-cgroup --lang python3 -n $((RUNS * 2)) -j 1 "$tmp/p1.py" 2>/dev/null || true)
echo "$NOCG_JSON" > "$tmp/nocg.jsonl"

python3 - "$tmp/lat.json" "$tmp/lib.jsonl" "$tmp/nocg.jsonl" <<'EOF2'
import json, sys
lat = {r['command']: r for r in json.load(open(sys.argv[1]))['results']}
med = {k: v['median'] * 1000 for k, v in lat.items()}
mn = {k: v['min'] * 1000 for k, v in lat.items()}
b = med['bare']
print('\nCLI latency of python3 -I -S -c print(1), ms   median      min   added (median)    ratio')
for k in ('bare', 'bwrap', 'zerorl', 'zerorl-nocg'):
    print('  %-42s %8.2f %8.2f %14.2f %8.2fx' % (k, med[k], mn[k], med[k] - b, med[k] / b))
lib = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
nocg = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
print('\nlibrary, main.py = print(1) (with the exit() bootstrap), each jailed run paired with the same command bare:')
for r in lib + nocg:
    print('  jobs %d cgroup %-4s: jailed median %6.2f ms (setup %.2f, p90 %.2f) | bare median %6.2f ms | added %5.2f ms'
          ' | %6.1f runs/s jailed, %6.1f bare (%.2fx)'
          % (r['jobs'], r['cgroup'], r['median_ms'], r['median_setup_ms'], r['p90_ms'], r['bare_median_ms'],
             r['added_median_ms'], r['runs_per_s'], r['bare_runs_per_s'], r['runs_per_s'] / r['bare_runs_per_s']))
if lib:
    print('\nadded latency per run (library, 1 job): %.2f ms (goal <= 5 ms)' % lib[0]['added_median_ms'])
EOF2
