#!/usr/bin/env python3
"""Loads a model directory written by zerorl (zr_tf_save) with Hugging Face transformers and compares
its logits on a fixture's batch with the fixture's logits.

  python3 tests/reference/check_checkpoint.py CHECKPOINT_DIR [FIXTURE_DIR] [--tol 1e-4]

FIXTURE_DIR defaults to tests/fixtures/model/<name>, with <name> taken from CHECKPOINT_DIR's base
name up to its last '-' (test_transformer writes <build>/test-output/transformer/<name>-f32 and
<name>-bf16). Prints the largest weight difference from the fixture model and the max absolute
and max relative logit error (max |ours - fixture| / max |fixture|)
and exits 1 if the relative error exceeds --tol.
"""
import argparse
import os
import sys

import torch
import transformers
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("fixture", nargs="?")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    fixture = a.fixture
    if fixture is None:
        base = os.path.basename(os.path.normpath(a.checkpoint))
        fixture = os.path.join(ROOT, "tests", "fixtures", "model", base.rsplit("-", 1)[0])
    ref = load_file(os.path.join(fixture, "reference.safetensors"))
    model = transformers.AutoModelForCausalLM.from_pretrained(a.checkpoint, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    tokens, lens = ref["tokens"].long(), ref["seq_lens"].tolist()
    out, off = [], 0
    with torch.no_grad():
        for n in lens:
            out.append(model(input_ids=tokens[off:off + n][None]).logits[0].float())
            off += n
    logits = torch.cat(out)
    want = ref["logits"]
    # the weights themselves, against the fixture model's (converted to fp32 as zerorl holds them)
    fix = transformers.AutoModelForCausalLM.from_pretrained(fixture, dtype=torch.float32).state_dict()
    w_err = max(float((p.float() - fix[k]).abs().max()) for k, p in model.state_dict().items())
    abs_err = float((logits - want).abs().max())
    rel_err = abs_err / float(want.abs().max())
    print(f"{a.checkpoint}: {type(model).__name__}, {sum(p.numel() for p in model.parameters())} params, "
          f"weights vs fixture: max abs diff {w_err:.3g}; "
          f"logits vs {fixture}: max abs err {abs_err:.3g}, max rel err {rel_err:.3g}")
    return 0 if rel_err <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
