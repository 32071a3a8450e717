#!/usr/bin/env bash
# The systemd units in deploy/systemd/ pass `systemd-analyze verify` without a single warning,
# with their ExecStart binaries present (the build tree's, or stubs for daemons not built), as
# templates and as instances; `cmake --install` rewrites ExecStart to the install prefix.
# Usage: systemd_units.sh [BUILD_DIR]   (default $ZERORL_BINARY_DIR). Exit 77: no systemd-analyze.
set -u
src=${ZERORL_SOURCE_DIR:?}
build=${1:-${ZERORL_BINARY_DIR:-}}
units=$src/deploy/systemd
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze is not installed (deploy/install-deps.sh installs package systemd)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# every unit Type=notify with the options the deployment guide promises
for u in zerorl-learner.service zerorl-actor@.service zerorl-reward@.service; do
  f=$units/$u
  [[ -f $f ]] || { fail "$u missing"; continue; }
  for want in '^Type=notify$' '^NotifyAccess=main$' '^WatchdogSec=' '^Restart=on-failure$' '^RestartSec=' \
    '^TimeoutStopSec=' '^KillSignal=SIGTERM$' '^User=zerorl$' '^StateDirectory=zerorl' \
    '^ExecStart=/usr/local/bin/zerorl-[a-z]+ --config /etc/zerorl/job.ini' '^PartOf=zerorl.target$'; do
    grep -qE -- "$want" "$f" || fail "$u: no line matching /$want/"
  done
done
grep -qE -- '--device %i --id %H-actor-%i' "$units/zerorl-actor@.service" || fail "actor: no --device %i --id %H-actor-%i"
grep -qE '^Wants=zerorl-learner.service' "$units/zerorl.target" || fail "zerorl.target does not want the learner"
# the reward unit must not forbid what the sandbox does (namespaces, mounts, its own seccomp)
for bad in RestrictNamespaces PrivateUsers SystemCallFilter ProtectKernelTunables ProtectProc ProcSubset \
  MemoryDenyWriteExecute ProtectHostname ProtectClock; do
  grep -qE "^$bad=" "$units/zerorl-reward@.service" && fail "zerorl-reward@.service sets $bad= (breaks the sandbox)"
done

# a copy with ExecStart pointing at real executables: the build tree's, else stubs
mkdir -p "$tmp/units" "$tmp/bin"
for d in learner actor reward; do
  bin=$tmp/bin/zerorl-$d
  if [[ -n $build && -x $build/$d/zerorl-$d ]]; then
    ln -s "$build/$d/zerorl-$d" "$bin"
  else
    printf '#!/bin/sh\nexit 0\n' >"$bin"
    chmod +x "$bin"
  fi
done
for f in "$units"/*.service "$units"/*.target; do
  sed "s#/usr/local/bin/#$tmp/bin/#g" "$f" >"$tmp/units/$(basename "$f")"
done
grep -q /usr/local/bin "$tmp/units"/* && fail "a unit names /usr/local/bin outside ExecStart's binary path"
# instances of the templates, as systemctl start zerorl-actor@3 would load them
cp "$tmp/units/zerorl-actor@.service" "$tmp/units/zerorl-actor@3.service"
cp "$tmp/units/zerorl-reward@.service" "$tmp/units/zerorl-reward@0.service"

verify() {
  local out
  out=$(cd "$tmp/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$@" 2>&1)
  local rc=$?
  if [[ $rc -ne 0 || -n $out ]]; then fail "systemd-analyze verify $* (exit $rc): $out"; fi
}
for f in "$tmp/units"/*; do verify "$f"; done
verify "$tmp/units/zerorl.target" "$tmp/units/zerorl-learner.service" "$tmp/units/zerorl-actor@3.service" \
  "$tmp/units/zerorl-reward@0.service"

# the checker itself notices a broken unit (so a silent pass means something)
printf '[Service]\nType=notify\nExecStart=%s/bin/zerorl-learner\nWatchdogSecs=10\n' "$tmp" >"$tmp/units/broken.service"
out=$(cd "$tmp/units" && systemd-analyze verify "$tmp/units/broken.service" 2>&1)
grep -q "WatchdogSecs" <<<"$out" || fail "systemd-analyze verify did not report an unknown key: $out"

# cmake --install puts the units in lib/systemd/system with ExecStart under the prefix
if [[ -n $build && -f $build/cmake_install.cmake ]]; then
  if cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
    sysd=$tmp/prefix/lib/systemd/system
    for u in zerorl.target zerorl-learner.service zerorl-actor@.service zerorl-reward@.service; do
      [[ -f $sysd/$u ]] || fail "cmake --install did not place $u in lib/systemd/system"
    done
    grep -q "^ExecStart=$tmp/prefix/bin/zerorl-learner --config /etc/zerorl/job.ini" "$sysd/zerorl-learner.service" ||
      fail "installed learner unit: ExecStart not rewritten to the prefix: $(grep ExecStart "$sysd/zerorl-learner.service")"
    [[ -f $tmp/prefix/lib/sysusers.d/zerorl.conf ]] || fail "sysusers.d/zerorl.conf not installed"
  else
    echo "note: cmake --install failed (daemons not built yet?), install layout not checked:"
    tail -3 "$tmp/install.log"
  fi
fi

[[ $fails -eq 0 ]] && echo "systemd_units: ok"
[[ $fails -eq 0 ]]
