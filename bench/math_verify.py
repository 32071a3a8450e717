#!/usr/bin/env python3
"""Math verification side by side: zerorl's C verifier vs Hugging Face math-verify.

Pairs: the hand-labelled table tests/fixtures/math/pairs.tsv (gold, prediction, equal?) and
MATH-500 (shared data): each solution's last \\boxed{} against its `answer`, plus the shifted
pairing (solution i against answer i+1) as negatives.

zerorl is timed in process by `zerorl verify --bench FILE --repeat N` (zr_math_equal over all
pairs, N passes; the binary reports checks/s on stderr). math-verify is timed in this process:
verify(parse(gold), parse(pred)) per pair, with both sides wrapped as \\boxed{...} and parsed
with LaTeX + expression extraction. Prints checks/s of both, the ratio, the agreement rate and
every pair on which they disagree (with the table's label where there is one).

usage: bench/math_verify.py [--zerorl PATH] [--repeat N] [--mv-repeat N] [--data DIR]
       (pip install math-verify for the comparison; without it only zerorl is timed)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def last_boxed(s):
    """Content of the last \\boxed{...} / \\fbox{...} with nested braces, or None."""
    i = max(s.rfind("\\boxed"), s.rfind("\\fbox"))
    if i < 0:
        return None
    j = s.find("{", i)
    if j < 0:
        return None
    depth = 0
    for k in range(j, len(s)):
        if s[k] == "{":
            depth += 1
        elif s[k] == "}":
            depth -= 1
            if depth == 0:
                return s[j + 1:k].strip()
    return None


def load_pairs(data_dir):
    pairs = []  # (source, gold, pred, label or None)
    with open(os.path.join(ROOT, "tests", "fixtures", "math", "pairs.tsv"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            gold, pred, eq = line.split("\t")[:3]
            pairs.append(("table", gold, pred, eq == "1"))
    path = os.path.join(data_dir, "math500", "test.jsonl")
    if os.path.exists(path):
        recs = [json.loads(l) for l in open(path, encoding="utf-8")]
        for i, r in enumerate(recs):
            b = last_boxed(r["solution"])
            if b is None:
                continue
            pairs.append(("math500", r["answer"], b, True))
            nxt = recs[(i + 1) % len(recs)]["answer"]
            pairs.append(("math500-shifted", nxt, b, None if nxt.strip() == b.strip() else False))
    else:
        print(f"note: {path} not found; MATH-500 pairs left out", file=sys.stderr)
    return pairs


def run_zerorl(binary, pairs, repeat):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for _, g, p, _ in pairs:
            f.write(json.dumps({"gold": g, "pred": p}) + "\n")
        name = f.name
    try:
        res = subprocess.run([binary, "verify", "--bench", name, "--repeat", str(repeat)],
                             capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(name)
    if res.returncode != 0:
        sys.exit(f"zerorl verify --bench failed ({res.returncode}): {res.stderr.strip()}")
    verdicts = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    rate = None
    for line in res.stderr.splitlines():
        if line.startswith("bench:") and "checks/s" in line:
            rate = float(line.split(":")[-1].split("checks/s")[0].strip().split()[-1])
            print("zerorl   " + line)
    return [v["equal"] for v in verdicts], rate


def run_math_verify(pairs, repeat):
    # this file is itself named math_verify.py: keep its folder off the import path
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [x for x in sys.path if os.path.abspath(x or ".") != here]
    sys.modules.pop("math_verify", None)
    try:
        from math_verify import parse, verify, LatexExtractionConfig, ExprExtractionConfig
    except ImportError:
        print("math-verify is not installed (pip install math-verify): comparison skipped")
        return None, None
    cfg = [LatexExtractionConfig(), ExprExtractionConfig()]
    out = []
    each = []
    t0 = time.perf_counter()
    for r in range(repeat):
        out = []
        for _, g, p, _ in pairs:
            t1 = time.perf_counter()
            try:
                ok = bool(verify(parse("\\boxed{" + g + "}", extraction_config=cfg),
                                 parse("\\boxed{" + p + "}", extraction_config=cfg)))
            except Exception:  # noqa: BLE001 - math-verify raises on odd input
                ok = False
            each.append(time.perf_counter() - t1)
            out.append(ok)
    dt = time.perf_counter() - t0
    each.sort()
    slow = sum(1 for x in each if x > 1.0)
    print(f"math-verify per check: median {each[len(each) // 2] * 1e6:.0f} us, "
          f"{slow} checks took > 1 s (its 5 s timeouts)")
    n = len(pairs) * repeat
    rate = n / dt if dt > 0 else 0.0
    print(f"math-verify: {len(pairs)} pairs x {repeat} passes = {n} checks in {dt:.3f} s: "
          f"{rate:.0f} checks/s ({dt * 1e6 / n:.1f} us/check)")
    return out, rate


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zerorl", default=os.path.join(ROOT, "build", "tools", "zerorl"))
    ap.add_argument("--repeat", type=int, default=20, help="zerorl passes over the pairs")
    ap.add_argument("--mv-repeat", type=int, default=1, help="math-verify passes over the pairs")
    ap.add_argument("--data", default=os.environ.get("ZERORL_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data")))
    a = ap.parse_args()
    pairs = load_pairs(a.data)
    print(f"pairs: {len(pairs)} ({sum(1 for s in pairs if s[0] == 'table')} from the table, "
          f"{sum(1 for s in pairs if s[0] != 'table')} from MATH-500)")
    zr, zr_rate = run_zerorl(a.zerorl, pairs, a.repeat)
    mv, mv_rate = run_math_verify(pairs, a.mv_repeat)

    def score(res, src):
        rows = [(r, p[3]) for r, p in zip(res, pairs) if p[0].startswith(src) and p[3] is not None]
        return sum(1 for r, lab in rows if r == lab), len(rows)

    for name, res in (("zerorl", zr), ("math-verify", mv)):
        if res is None:
            continue
        for src in ("table", "math500"):
            ok, n = score(res, src)
            if n:
                print(f"{name:12s} matches the labels on {src}: {ok}/{n} ({100.0 * ok / n:.1f}%)")
    if mv is None:
        return
    if zr_rate and mv_rate:
        print(f"speed: zerorl {zr_rate:.0f} checks/s vs math-verify {mv_rate:.0f} checks/s = {zr_rate / mv_rate:.0f}x")
    agree = sum(1 for x, y in zip(zr, mv) if x == y)
    print(f"agreement: {agree}/{len(pairs)} ({100.0 * agree / len(pairs):.1f}%)")
    print("disagreements (source | gold | prediction | label | zerorl | math-verify):")
    for (src, g, p, lab), x, y in zip(pairs, zr, mv):
        if x != y:
            label = "-" if lab is None else int(lab)
            print(f"  {src} | {g} | {p} | {label} | {int(x)} | {int(y)}")


if __name__ == "__main__":
    main()
