#!/usr/bin/env bash
# `cmake --install` puts the binaries, example configs and the dependency installer where the
# docs say, and the installed zerorl runs. Usage: install.sh BUILD_DIR
set -u
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: cmake --install"; exit 1; }
fails=0
for f in bin/zerorl etc/zerorl/zerorl.ini share/zerorl/install-deps.sh; do
  [[ -e "$tmp/prefix/$f" ]] || { echo "FAIL: $f not installed"; fails=1; }
done
"$tmp/prefix/bin/zerorl" config check "$tmp/prefix/etc/zerorl/zerorl.ini" >/dev/null ||
  { echo "FAIL: installed zerorl rejects the installed example config"; fails=1; }
[[ $fails -eq 0 ]] && echo "install: ok"
exit $fails
