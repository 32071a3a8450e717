"""torch_bench.py: the PyTorch side of tests/gpu/check.sh's benchmark: the same shapes and
workload as gpu_bench (random Qwen2-shaped model, eager + SDPA attention): median training step
(forward, cross-entropy backward, AdamW) of B x T tokens and greedy decode of K new tokens for S
prompts of P tokens. --dtype f32: fp32 everywhere, TF32 off. --dtype bf16: training under
torch.autocast(bfloat16) with fp32 master weights and fp32 AdamW (zerorl's bf16 mode does the
same), decode with a bfloat16 copy of the model (bf16 weights, activations and KV cache, as an
inference engine would run it). Prints one JSON line like gpu_bench; exits 77 when torch,
transformers or a CUDA device is missing."""
import argparse, json, sys, time

try:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
except Exception as e:  # noqa: BLE001
    print(f"torch_bench: {e}: skipped")
    sys.exit(77)
if not torch.cuda.is_available():
    print("torch_bench: no CUDA device: skipped")
    sys.exit(77)

ap = argparse.ArgumentParser()
ap.add_argument("--shape", default="small")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--seq", type=int, default=256)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--decode-seqs", type=int, default=16)
ap.add_argument("--prompt", type=int, default=32)
ap.add_argument("--new", type=int, default=128)
ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
a = ap.parse_args()

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
if a.shape == "0.5b":
    shp = dict(vocab_size=151936, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
               num_key_value_heads=2, intermediate_size=4864, tie_word_embeddings=True)
else:
    shp = dict(vocab_size=32000, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
               num_key_value_heads=2, intermediate_size=1408, tie_word_embeddings=False)
cfg = Qwen2Config(**shp, rope_theta=1e6, rms_norm_eps=1e-6, max_position_embeddings=32768,
                  torch_dtype="float32", attn_implementation="sdpa")
torch.manual_seed(1)
model = Qwen2ForCausalLM(cfg).cuda().float()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=False)
V, B, T = shp["vocab_size"], a.batch, a.seq
ids = (torch.arange(B * T, dtype=torch.int64) * 2654435761 % V).view(B, T).cuda()
times, losses = [], []
for st in range(a.steps + 1):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=False)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
        out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    opt.step()
    torch.cuda.synchronize()
    times.append(time.perf_counter() - t0)
    losses.append(out.loss.item())
step = sorted(times[1:])[len(times[1:]) // 2]
n_params = sum(p.numel() for p in model.parameters())
L, H, hd = shp["num_hidden_layers"], shp["num_attention_heads"], shp["hidden_size"] // shp["num_attention_heads"]
flops = 6.0 * n_params * B * T + 6.0 * 2 * L * H * hd * B * T * T / 2

model.eval()
if a.dtype == "bf16":
    model = model.to(torch.bfloat16)
S, P, K = a.decode_seqs, a.prompt, a.new
prompts = ((torch.arange(S * P, dtype=torch.int64) * 40503 + 7) % V).view(S, P).cuda()
with torch.no_grad():
    gen = lambda: model.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=K,
                                 min_new_tokens=K, do_sample=False, pad_token_id=0)
    gen()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    gen()
    torch.cuda.synchronize()
    dec = time.perf_counter() - t0
wb = 2 if a.dtype == "bf16" else 4  # weight and KV bytes in decode
kvd = shp["num_key_value_heads"] * hd
step_bytes = (n_params - (0 if shp["tie_word_embeddings"] else V * shp["hidden_size"])) * wb + S * (P + K / 2) * 2 * L * kvd * wb
print(json.dumps(dict(engine="torch-cuda", dtype=a.dtype, shape=a.shape, params=n_params, train_tokens=B * T,
                      train_step_s=round(step, 4), train_tokens_per_s=round(B * T / step, 1), train_flops=flops,
                      train_tflops=round(flops / step / 1e12, 2), loss_first=round(losses[0], 4),
                      loss_last=round(losses[-1], 4), decode_seqs=S, decode_tokens_per_s=round(S * K / dec, 1),
                      decode_step_bytes=step_bytes)))
