#!/usr/bin/env bash
# The README's Quick start holds exactly two one-line commands (demo first, tests second), and
# .ci/run calls the test command verbatim.
set -u
src=${ZERORL_SOURCE_DIR:?}
blocks=$(awk '/^## Quick start/{on=1; next} /^## /{on=0} on' "$src/README.md" |
  awk '/^```/{inb=!inb; if(!inb) n++; next} inb{print (n+0)": "$0}')
count=$(cut -d: -f1 <<<"$blocks" | sort -u | wc -l)
lines=$(wc -l <<<"$blocks")
if [[ $count -ne 2 || $lines -ne 2 ]]; then
  echo "FAIL: Quick start must have two code blocks of one line each; found: $blocks"
  exit 1
fi
demo=$(sed -n '1s/^0: //p' <<<"$blocks")
test=$(sed -n '2s/^1: //p' <<<"$blocks")
grep -qxF -- "$test" "$src/.ci/run" || { echo "FAIL: .ci/run does not call '$test' verbatim"; exit 1; }
[[ -x "$src/${demo#./}" ]] || { echo "FAIL: demo command '$demo' is not an executable in the repo"; exit 1; }
echo "readme: quick start ok (demo: $demo; tests: $test)"
