#!/usr/bin/env python3
"""Builds the RL loss fixtures in tests/fixtures/loss/ with PyTorch + transformers.

A tiny random Qwen2 model (vocab 32, hidden 16, 2 layers, 2 heads / 1 KV head, q/k/v biases,
untied LM head; weights drawn larger than transformers' init so every path matters) and a fixed
batch of 6 rollouts in 2 groups of 3 (prompt + completion token ids, rewards). For each loss
variant the script writes the per-token log-probs it used (behaviour, old = clip centre,
reference: perturbations of the policy's own log-probs), the advantages, the loss and the gradient
of every parameter of that loss, computed independently of the C code:

  per token  ratio = exp(logp - logp_old)                (GSPO: exp(mean over the sequence), broadcast)
             pg    = max(-A ratio, -A clamp(ratio, 1-eps_low, 1+eps_high))
             dual clip (A < 0): pg = min(pg, -A c)
             truncated IS: pg *= min(exp(logp_old - logp_behav), cap)          (detached)
             + beta * k  with k1 = logp - ref, k2 = (ref - logp)^2 / 2, k3 = exp(ref-logp) - (ref-logp) - 1
  aggregate  token_mean: sum / total tokens; seq_mean_token_mean: mean_i (sum_t / len_i);
             seq_mean_token_sum_norm: mean_i (sum_t / L)
  advantages grpo: (r - mean) / (sample std + 1e-4) per group; dr_grpo: r - mean

Files:
  model/config.json, model/model.safetensors   the model (save_pretrained, F32, classic config form)
  cases.json                                    rollouts, and per variant: config, advantages,
                                                logp (the policy's, for reference), logp_old,
                                                logp_behav, logp_ref, loss, pg_loss, clip fractions
  grads.safetensors                             "<variant>.<hf param name>": dL/dparam (F32)

Read by tests/unit/test_trainer.c. Run from the repository root:
  python3 tests/reference/make_loss_fixtures.py
Needs torch, transformers (5.x), safetensors.
"""
import json
import os
import shutil

import torch
import transformers
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "loss")
V, D, L, FFN = 32, 16, 2, 32
PROMPT_LENS = [4, 3, 5, 4, 6, 3]
COMP_LENS = [3, 5, 2, 6, 4, 7]
GROUPS = [0, 0, 0, 1, 1, 1]
REWARDS = [1.0, 0.0, 0.0, 0.0, 1.0, 0.5]
SEED = 21


README = """# RL loss fixtures

Made by `python3 tests/reference/make_loss_fixtures.py` (torch + transformers 5.x, fp32 model, loss
in float64); read by `tests/unit/test_trainer.c`. Regenerate only when the reference changes.

- `model/`: a tiny random Qwen2 (vocab 32, hidden 16, 2 layers, 2 heads / 1 KV head, q/k/v
  biases, untied LM head), `config.json` + `model.safetensors` (F32).
- `cases.json`: 6 rollouts in 2 groups of 3 (prompt and completion token ids, rewards) and, for
  each of 10 loss variants (GRPO token-mean, Dr. GRPO seq-mean-token-sum-norm, DAPO clip-higher
  with binding clips, dual clip, GSPO, KL k1/k2/k3 with beta 0.1, truncated IS, on-policy TIS for
  the trainer), its configuration, the advantages, the per-token log-probs used (policy, old,
  behaviour, reference), the loss, the pg part and the clip counts.
- `grads.safetensors`: `<variant>.<hf parameter name>`, the gradient of that variant's loss.
"""


def make_model():
    cfg = transformers.Qwen2Config(vocab_size=V, hidden_size=D, intermediate_size=FFN, num_hidden_layers=L,
                                   num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                                   hidden_act="silu", bos_token_id=1, eos_token_id=2, rms_norm_eps=1e-6,
                                   tie_word_embeddings=False, use_sliding_window=False,
                                   rope_parameters=dict(rope_type="default", rope_theta=10000.0),
                                   attn_implementation="eager")
    torch.manual_seed(SEED)
    model = transformers.Qwen2ForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.3 * torch.randn_like(p))
            elif "embed_tokens" in name or name == "lm_head.weight":
                p.copy_(0.8 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (1.0 / p.shape[1] ** 0.5))
    return model


def legacy_config(path):
    with open(path) as f:
        c = json.load(f)
    rope = c.pop("rope_parameters")
    c["rope_theta"] = rope.pop("rope_theta")
    c.pop("dtype", None)
    c["torch_dtype"] = "float32"
    with open(path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")


def completion_logps(model, prompts, comps):
    """log p(completion tokens) per sequence, each run alone (no padding); fp32, differentiable."""
    out = []
    for p, c in zip(prompts, comps):
        ids = torch.tensor(p + c[:-1])[None]
        ls = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        pos = torch.arange(len(p) - 1, len(p) - 1 + len(c))
        out.append(ls[pos, torch.tensor(c)])
    return out


def advantages(kind):
    r = torch.tensor(REWARDS, dtype=torch.float64)
    adv = torch.zeros_like(r)
    for g in sorted(set(GROUPS)):
        idx = torch.tensor([i for i, x in enumerate(GROUPS) if x == g])
        rg = r[idx]
        if kind == "grpo":
            adv[idx] = (rg - rg.mean()) / (rg.std() + 1e-4)  # torch std: sample (n-1), as TRL
        else:
            adv[idx] = rg - rg.mean()
    return adv


def loss_of(logps, old, behav, ref, adv, v):
    lens = [len(x) for x in logps]
    terms, stats = [], dict(clip_low=0, clip_high=0, dual=0)
    for i, lp in enumerate(logps):
        lp = lp.double()
        A = float(adv[i])
        if v["gspo"]:
            ratio = torch.exp((lp - old[i]).mean()).expand(len(lp))
        else:
            ratio = torch.exp(lp - old[i])
        lo, hi = 1 - v["eps_low"], 1 + v["eps_high"]
        pg1 = -A * ratio
        pg2 = -A * torch.clamp(ratio, lo, hi)
        pg = torch.maximum(pg1, pg2)
        stats["clip_low"] += int(((ratio < lo) & (A < 0)).sum())
        stats["clip_high"] += int(((ratio > hi) & (A > 0)).sum())
        if v["dual_clip"] > 0 and A < 0:
            cap = torch.full_like(pg, -A * v["dual_clip"])
            stats["dual"] += int((pg > cap).sum())
            pg = torch.minimum(pg, cap)
        if v["is_cap"] > 0:
            pg = pg * torch.clamp(torch.exp(old[i] - behav[i]), max=v["is_cap"])
        t = pg
        if v["kl"] != "none":
            d = ref[i] - lp
            k = {"k1": -d, "k2": 0.5 * d * d, "k3": torch.exp(d) - d - 1}[v["kl"]]
            t = t + v["kl_beta"] * k
        terms.append((t, pg))
    n = len(logps)
    ntok = sum(lens)
    if v["agg"] == "token_mean":
        agg = lambda k: sum(x[k].sum() for x in terms) / ntok
    elif v["agg"] == "seq_mean_token_mean":
        agg = lambda k: sum(x[k].sum() / len(x[k]) for x in terms) / n
    else:
        agg = lambda k: sum(x[k].sum() / v["sum_norm_len"] for x in terms) / n
    return agg(0), agg(1), stats


def variant(name, **kw):
    v = dict(name=name, adv="grpo", eps_low=0.2, eps_high=0.2, dual_clip=0.0, gspo=False, agg="token_mean",
             sum_norm_len=0, kl="none", kl_beta=0.0, is_cap=0.0, old_noise=0.1, behav_noise=0.1, ref_noise=0.3,
             old_is_policy=False)
    v.update(kw)
    return v


VARIANTS = [
    variant("grpo_token_mean"),
    variant("dr_grpo", adv="dr_grpo", agg="seq_mean_token_sum_norm", sum_norm_len=8),
    variant("dapo_clip_higher", eps_high=0.28, old_noise=0.6),
    variant("dual_clip", eps_high=0.28, dual_clip=1.5, old_noise=1.2),
    variant("gspo", gspo=True, agg="seq_mean_token_mean", eps_high=0.28, old_noise=0.3),
    variant("kl_k1", agg="seq_mean_token_mean", kl="k1", kl_beta=0.1),
    variant("kl_k2", agg="seq_mean_token_mean", kl="k2", kl_beta=0.1),
    variant("kl_k3", agg="seq_mean_token_mean", kl="k3", kl_beta=0.1),
    variant("tis", is_cap=1.5, behav_noise=0.8),
    # on-policy (logp_old = the policy's own log-probs, detached), TIS: what zr_trainer_rl_step does
    # with one minibatch; the test runs it through the trainer
    variant("trainer_onpolicy_tis", old_is_policy=True, is_cap=1.5, behav_noise=0.5),
]


def main():
    model = make_model()
    g = torch.Generator().manual_seed(SEED + 1)
    prompts = [torch.randint(3, V, (n,), generator=g).tolist() for n in PROMPT_LENS]
    comps = [torch.randint(3, V, (n,), generator=g).tolist() for n in COMP_LENS]
    with torch.no_grad():
        base = [x.double() for x in completion_logps(model, prompts, comps)]

    def noise(scale):
        return [scale * (2 * torch.rand(len(x), generator=g, dtype=torch.float64) - 1) for x in base]

    cases, grads = [], {}
    for v in VARIANTS:
        # the perturbed arrays are rounded to fp32, as the C side reads them
        f32 = lambda xs: [x.float().double() for x in xs]
        old = f32([b for b in base] if v["old_is_policy"] else [b + n for b, n in zip(base, noise(v["old_noise"]))])
        behav = f32([o + n for o, n in zip(old, noise(v["behav_noise"]))])
        ref = f32([b + n for b, n in zip(base, noise(v["ref_noise"]))])
        adv = advantages(v["adv"])
        model.zero_grad()
        logps = completion_logps(model, prompts, comps)
        if v["old_is_policy"]:
            old = [lp.detach().double() for lp in logps]
        loss, pg, st = loss_of(logps, old, behav, ref, adv, v)
        loss.backward()
        for pname, p in model.named_parameters():
            grads[v["name"] + "." + pname] = p.grad.detach().float().contiguous().clone()
        c = dict(v)
        c.update(advantages=adv.tolist(), loss=float(loss.detach()), pg_loss=float(pg.detach()), clip_low=st["clip_low"],
                 clip_high=st["clip_high"], dual_clip_count=st["dual"],
                 logp=[x for lp in logps for x in lp.detach().double().tolist()],
                 logp_old=[x for o in old for x in o.tolist()],
                 logp_behav=[x for b in behav for x in b.tolist()], logp_ref=[x for r in ref for x in r.tolist()])
        cases.append(c)
        print(f"{v['name']:22s} loss {float(loss.detach()):+.6f} clip low/high/dual {st['clip_low']}/{st['clip_high']}/{st['dual']}")

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    mdir = os.path.join(OUT, "model")
    model.save_pretrained(mdir, safe_serialization=True)
    legacy_config(os.path.join(mdir, "config.json"))
    for f in os.listdir(mdir):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(mdir, f))
    save_file(grads, os.path.join(OUT, "grads.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(dict(prompts=prompts, completions=comps, groups=GROUPS, rewards=REWARDS, variants=cases), f)
        f.write("\n")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(README)
    for dirpath, _, files in os.walk(OUT):
        for fn in files:
            os.chmod(os.path.join(dirpath, fn), 0o644)


if __name__ == "__main__":
    main()
