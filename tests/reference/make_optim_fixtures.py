#!/usr/bin/env python3
"""Reference fixtures for model/optim.c and model/lr_schedule.c (tests/unit/test_optim.c).

Runs torch.optim.AdamW (foreach=False) for 10 steps on a few parameter tensors of different
shapes, in two parameter groups (weight decay 0.1, and 0 for the bias and the norm), with
seeded random gradients per step and torch.nn.utils.clip_grad_norm_(max_norm=1.0) before each
step. Writes tests/fixtures/optim/adamw.json: the flat layout, initial parameters, per-step
gradients (before clipping), per-step total norms, parameters after every step and the final
exp_avg / exp_avg_sq.

Also evaluates transformers' schedule factories (get_constant_schedule,
get_constant_schedule_with_warmup, get_linear_schedule_with_warmup,
get_cosine_schedule_with_warmup, get_cosine_with_min_lr_schedule_with_warmup) through
torch's LambdaLR and writes the lr of every step to tests/fixtures/optim/schedules.json.

Usage: python3 tests/reference/make_optim_fixtures.py  (from the repository root)
"""
import json
import os

import torch
import transformers
from transformers import optimization as hfopt

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "optim")

LR, BETAS, EPS, WD, MAX_NORM, STEPS = 1e-3, (0.9, 0.95), 1e-8, 0.1, 1.0, 10
# name, shape, weight decay; laid out in this order in the flat buffer
TENSORS = [("w1", (12, 20), True), ("b1", (20,), False), ("w2", (6, 8, 3), True), ("norm", (32,), False)]
# gradient scale per step: some steps are clipped, some are not
GRAD_SCALE = [0.01, 0.05, 0.02, 1.0, 0.03, 0.5, 0.02, 0.04, 2.0, 0.01]


def flat(ts):
    return [float(x) for t in ts for x in t.detach().reshape(-1).tolist()]


def adamw_fixture(LR=LR, BETAS=BETAS, EPS=EPS, WD=WD, MAX_NORM=MAX_NORM, STEPS=STEPS, TENSORS=TENSORS,
                  GRAD_SCALE=GRAD_SCALE, seed=1234):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(shape, generator=gen) * 0.5) for _, shape, _ in TENSORS]
    decay = [p for p, (_, _, wd) in zip(params, TENSORS) if wd]
    no_decay = [p for p, (_, _, wd) in zip(params, TENSORS) if not wd]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS, foreach=False, fused=False)
    layout, off = [], 0
    for name, shape, wd in TENSORS:
        n = 1
        for d in shape:
            n *= d
        layout.append({"name": name, "shape": list(shape), "offset": off, "length": n, "weight_decay": wd})
        off += n
    out = {"torch": torch.__version__, "lr": LR, "beta1": BETAS[0], "beta2": BETAS[1], "eps": EPS,
           "weight_decay": WD, "max_norm": MAX_NORM, "steps": STEPS, "n": off, "layout": layout,
           "params0": flat(params), "grads": [], "norms": [], "params": []}
    for step in range(STEPS):
        grads = [torch.randn(p.shape, generator=gen) * GRAD_SCALE[step] for p in params]
        out["grads"].append(flat(grads))
        for p, g in zip(params, grads):
            p.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_(params, MAX_NORM, foreach=False)
        out["norms"].append(float(norm))
        opt.step()
        out["params"].append(flat(params))
    out["exp_avg"] = flat(opt.state[p]["exp_avg"] for p in params)
    out["exp_avg_sq"] = flat(opt.state[p]["exp_avg_sq"] for p in params)
    out["step"] = int(opt.state[params[0]]["step"])
    return out


def schedules_fixture():
    base, n = 3e-4, 40
    cases = [
        {"kind": "constant", "warmup": 0, "total": 0, "min_lr_ratio": 0.0, "num_cycles": 0.5,
         "make": lambda o: hfopt.get_constant_schedule(o)},
        {"kind": "constant_with_warmup", "warmup": 7, "total": 0, "min_lr_ratio": 0.0, "num_cycles": 0.5,
         "make": lambda o: hfopt.get_constant_schedule_with_warmup(o, 7)},
        {"kind": "linear", "warmup": 5, "total": 30, "min_lr_ratio": 0.0, "num_cycles": 0.5,
         "make": lambda o: hfopt.get_linear_schedule_with_warmup(o, 5, 30)},
        {"kind": "linear", "warmup": 0, "total": 25, "min_lr_ratio": 0.0, "num_cycles": 0.5,
         "make": lambda o: hfopt.get_linear_schedule_with_warmup(o, 0, 25)},
        {"kind": "cosine", "warmup": 5, "total": 30, "min_lr_ratio": 0.0, "num_cycles": 0.5,
         "make": lambda o: hfopt.get_cosine_schedule_with_warmup(o, 5, 30)},
        {"kind": "cosine", "warmup": 4, "total": 33, "min_lr_ratio": 0.1, "num_cycles": 0.5,
         "make": lambda o: hfopt.get_cosine_with_min_lr_schedule_with_warmup(o, 4, 33, min_lr_rate=0.1)},
        {"kind": "cosine", "warmup": 3, "total": 20, "min_lr_ratio": 0.0, "num_cycles": 1.5,
         "make": lambda o: hfopt.get_cosine_schedule_with_warmup(o, 3, 20, num_cycles=1.5)},
        {"kind": "cosine", "warmup": 1, "total": 1, "min_lr_ratio": 0.25, "num_cycles": 0.5,
         "make": lambda o: hfopt.get_cosine_with_min_lr_schedule_with_warmup(o, 1, 1, min_lr_rate=0.25)},
    ]
    out = {"transformers": transformers.__version__, "base_lr": base, "steps": n, "cases": []}
    for c in cases:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=base)
        sched = c["make"](opt)
        lrs = []
        for _ in range(n):
            lrs.append(sched.get_last_lr()[0])  # the lr the next optimizer step uses
            opt.step()
            sched.step()
        out["cases"].append({k: v for k, v in c.items() if k != "make"} | {"lr": lrs})
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    # a second, small case where eps, both bias corrections and a large decay all move the result
    # well beyond the tolerance: eps 1e-2 is the size of sqrt(v) here
    eps_case = adamw_fixture(LR=2e-2, BETAS=(0.8, 0.99), EPS=1e-2, WD=0.5, MAX_NORM=100.0, STEPS=6,
                             TENSORS=[("a", (7, 5), True), ("b", (9,), False)],
                             GRAD_SCALE=[0.02, 0.01, 0.05, 0.002, 0.03, 0.01], seed=99)
    for name, obj in (("adamw.json", adamw_fixture()), ("adamw_eps.json", eps_case),
                      ("schedules.json", schedules_fixture())):
        path = os.path.join(OUT, name)
        with open(path, "w") as f:
            json.dump(obj, f, separators=(",", ":"))
            f.write("\n")
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
