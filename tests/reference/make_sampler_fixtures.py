#!/usr/bin/env python3
"""Reference fixtures for model/sampler.c (tests/unit/test_sampler.c).

Applies transformers' TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper and
MinPLogitsWarper, in that order (min_tokens_to_keep=1), to a few random logits rows of vocab
1000 (some full of ties) for several settings, and records per row and setting the surviving
token ids (finite scores after the warpers) and their renormalised probabilities
(softmax of the processed scores). Per row also torch.log_softmax of the raw logits and
torch.argmax.

Ties and top-p: TopPLogitsWarper sorts with torch.sort(stable=False), whose order of equal
values is unspecified (on CPU it is not the index order). The fixture therefore runs the warper
twice: as shipped ("ids_unstable", present only where it differs) and with torch.sort made stable ("ids", "probs"), which is the
well-defined rule zerorl implements (ties ordered by ascending token id). The two may differ only
in which members of a tie group that straddles the top-p cut survive, never in how many.

A full-vocabulary row (151936 tokens, built from the sampler's own generator so the C test can
rebuild it) is summarised per setting: survivor count, sums of the ids, the lowest surviving
logit, the largest probability and the first 20 survivors.

Also known-answer values for the sampler's generator, Philox4x64-10, from numpy.random.Philox.

Writes tests/fixtures/sampler/warpers.json.
Usage: python3 tests/reference/make_sampler_fixtures.py  (from the repository root)
"""
import json
import os

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "sampler")
V = 1000


def short(values):
    """fp32 values as the shortest decimal that reads back (through a double) as the same fp32"""
    out = []
    for x in np.asarray(values, dtype=np.float32).tolist():
        x32 = np.float32(x)
        r = float(repr(x32).replace("np.float32(", "").rstrip(")"))
        out.append(r if np.float32(r) == x32 else float(x32))
    return out


def f32(x):
    """the value a C float parameter holds, as a Python float"""
    return float(np.float32(x))


def rows():
    g = np.random.default_rng(2024)
    out = []
    out.append(("normal", (g.standard_normal(V) * 2.0).astype(np.float32)))
    out.append(("rounded_ties", np.round(g.standard_normal(V) * 1.5, 1).astype(np.float32)))
    r = (g.standard_normal(V) * 1.0).astype(np.float32)
    r[[17, 400, 999]] = 6.5  # three-way tie at the top: greedy must pick 17
    out.append(("top_tie", r))
    out.append(("coarse_ties", g.integers(0, 6, V).astype(np.float32)))  # 6 levels, big tie groups
    r = (g.standard_normal(V) * 1.0).astype(np.float32)
    r[123] = 15.0
    out.append(("peaked", r))
    out.append(("all_equal", np.zeros(V, dtype=np.float32)))
    r = (g.standard_normal(V) * 3.0).astype(np.float32)
    r[g.integers(0, V, 200)] = -90.0  # probabilities that underflow fp32
    out.append(("with_tiny", r))
    return out


SETTINGS = [  # temperature, top_k, top_p, min_p
    (1.0, 0, 1.0, 0.0),
    (0.7, 0, 1.0, 0.0),
    (1.0, 50, 1.0, 0.0),
    (1.0, 0, 0.9, 0.0),
    (0.8, 40, 0.95, 0.0),
    (1.3, 0, 0.8, 0.05),
    (1.0, 0, 1.0, 0.1),
    (0.6, 100, 0.7, 0.2),
    (1.0, 1, 1.0, 0.0),
    (1.0, 0, 0.0, 0.0),
    (2.0, 5, 0.5, 0.5),
    (0.9, 0, 0.35, 0.0),
    (1.0, 0, 1.0, 1.0),
]


def warp(logits, t, k, p, mp):
    """transformers' processors as generate() adds them: only those that are switched on"""
    scores = torch.from_numpy(logits).clone().reshape(1, -1)
    ids = torch.zeros((1, 1), dtype=torch.long)
    if t != 1.0:
        scores = TemperatureLogitsWarper(f32(t))(ids, scores)
    if k != 0:
        scores = TopKLogitsWarper(k)(ids, scores)
    if p < 1.0:
        scores = TopPLogitsWarper(f32(p))(ids, scores)
    if mp != 0.0:
        scores = MinPLogitsWarper(f32(mp))(ids, scores)
    keep = torch.isfinite(scores[0]).nonzero().reshape(-1)
    probs = torch.softmax(scores[0], dim=-1)[keep]
    return keep.tolist(), short(probs.numpy())


def philox_kat():
    out = []
    for seed, seq, pos, stream in [(0, 0, 0, 0), (1, 0, 0, 0), (42, 7, 1000, 0), (42, 7, 1001, 0), (42, 8, 1000, 0),
                                   (42, 7, 1000, 1), (2**64 - 1, 2**63 + 5, 2**40 + 3, 2**32 - 1),
                                   (123456789, 3, 0, 0)]:
        ctr = pos | (seq << 64) | (stream << 128)  # counter words (position, sequence, stream, 0)
        bg = np.random.Philox(key=seed, counter=ctr - 1 if ctr else 2**256 - 1)  # numpy adds 1 first
        w0 = int(bg.random_raw(1)[0])
        out.append({"seed": str(seed), "sequence": str(seq), "position": str(pos), "stream": stream,
                    "word0": str(w0), "u": (w0 >> 11) * 2.0**-53})
    return out


BIG_V = 151936  # Qwen2's vocabulary
BIG_SETTINGS = [(1.0, 50, 1.0, 0.0), (1.0, 0, 0.95, 0.0), (0.7, 5000, 0.9, 0.0), (1.0, 0, 0.5, 0.0),
                (1.2, 0, 0.95, 0.3), (1.0, 20000, 1.0, 0.0)]


def big_logits():
    """A full-size row both sides can build bit for bit: logit_i = floor(u_i * 4096) / 256 - 8
    with u_i = zr_rng_uniform(7, 0, i, 0); 4096 levels over 151936 tokens, so ~37-way ties."""
    out = np.empty(BIG_V, dtype=np.float32)
    for i in range(BIG_V):
        bg = np.random.Philox(key=7, counter=i - 1 if i else 2**256 - 1)
        u = (int(bg.random_raw(1)[0]) >> 11) * 2.0**-53
        out[i] = np.float32(np.floor(u * 4096) / 256 - 8)
    return out


def big_fixture(orig_sort, stable_sort):
    logits = big_logits()
    res = []
    for t, k, p, mp in BIG_SETTINGS:
        ids_unstable, _ = warp(logits, t, k, p, mp)
        torch.sort = stable_sort
        try:
            ids, probs = warp(logits, t, k, p, mp)
        finally:
            torch.sort = orig_sort
        ids_a = np.array(ids, dtype=np.int64)
        res.append({"temperature": f32(t), "top_k": k, "top_p": f32(p), "min_p": f32(mp), "n": len(ids),
                    "n_unstable": len(ids_unstable), "sum_ids": int(ids_a.sum()), "sum_ids_sq": int((ids_a ** 2).sum()),
                    "min_logit": float(logits[ids_a].min()), "max_prob": float(max(probs)),
                    "first_ids": ids[:20], "first_probs": probs[:20]})
    return {"vocab": BIG_V, "seed": 7, "logit_sum": float(logits.astype(np.float64).sum()), "results": res}


def main():
    os.makedirs(OUT, exist_ok=True)
    data = {"transformers": transformers.__version__, "torch": torch.__version__, "vocab": V,
            "settings": [{"temperature": f32(t), "top_k": k, "top_p": f32(p), "min_p": f32(mp)}
                         for t, k, p, mp in SETTINGS],
            "rows": [], "philox": philox_kat()}
    orig_sort = torch.sort

    def stable_sort(*a, **kw):
        kw["stable"] = True
        return orig_sort(*a, **kw)

    for name, logits in rows():
        lt = torch.from_numpy(logits)
        row = {"name": name, "logits": short(logits), "log_softmax": short(torch.log_softmax(lt, -1).numpy()),
               "argmax": int(torch.argmax(lt)), "results": []}
        for t, k, p, mp in SETTINGS:
            ids_unstable, _ = warp(logits, t, k, p, mp)
            torch.sort = stable_sort
            try:
                ids, probs = warp(logits, t, k, p, mp)
            finally:
                torch.sort = orig_sort
            res = {"ids": ids, "probs": probs}
            if ids_unstable != ids:
                res["ids_unstable"] = ids_unstable
            row["results"].append(res)
        data["rows"].append(row)
    data["big"] = big_fixture(orig_sort, stable_sort)
    path = os.path.join(OUT, "warpers.json")
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(path, os.path.getsize(path), "bytes")
    for r in data["rows"]:
        print(r["name"], [len(x["ids"]) for x in r["results"]],
              ["!" if "ids_unstable" in x else "" for x in r["results"]])


if __name__ == "__main__":
    main()
