"""PyTorch side of the training-step comparison (scripts/compare-pytorch.sh).

Subcommands, each taking the work folder:
  inputs DIR   write DIR/train_inputs.safetensors: one stage-2 batch (seeded)
  torch DIR    load our initial weights (DIR/train_params.safetensors), compute the loss and
               every weight's gradient without dropout (float32 and float64), time a full
               step with dropout; write DIR/torch_train.safetensors and DIR/torch_train.json
  report DIR BACKEND...  check DIR/ours_train_<backend>.safetensors of each backend against
               PyTorch, print the step's times and ours/PyTorch side by side

The model is san-train's default model for clip-feature input, written the way PyTorch
users write it: a linear input projection, sinusoidal positions, `nn.TransformerEncoder`
(2 pre-norm layers of width 256, 8 heads, feed-forward 1024, GELU, dropout 0.1), a
projection to D = 256; the word encoder is an embedding plus a residual GELU MLP. The loss
is DESIGN.md §3.2's coarse InfoNCE + 0.4 × SAN fine loss over the item's caption and K = 5
hard captions (core.py's functions), and the optimiser is AdamW (lr 1e-3, weight decay
1e-4, eps 1e-5: Burn's AdamW defaults). PyTorch runs on the CPU with 2 threads, or on its CUDA device when SAN_TORCH_DEVICE=cuda.
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from core import DEVICE, TAU_TOK, LAMBDA_FINE, clcl_gallery, clcl_reduce, masks, setup, timed  # noqa: E402

# One PHOENIX-2014T-shaped stage-2 batch at san-train's defaults (batch_size 32, n_hard 5).
STEP = dict(b=32, t=64, f=1024, l=32, k=5, vocab=2887, hidden=256, heads=8, layers=2, dim=256)
PREFIX = "sign_encoder.Features"
MAX_LOG_SCALE = math.log(100.0)


def make_inputs(folder):
    s = STEP
    gen = torch.Generator().manual_seed(20261127)
    clip_mask = masks(gen, s["b"], s["t"])
    features = torch.randn(s["b"], s["t"], s["f"], generator=gen) * clip_mask[..., None]
    token_mask = masks(gen, s["b"], s["l"])
    tokens = torch.randint(2, s["vocab"], (s["b"], s["l"]), generator=gen) * token_mask
    cand_mask = masks(gen, s["b"] * (s["k"] + 1), s["l"]).reshape(s["b"], s["k"] + 1, s["l"])
    cand = torch.randint(2, s["vocab"], (s["b"], s["k"] + 1, s["l"]), generator=gen)
    # Each item's first candidate is its own caption.
    cand[:, 0], cand_mask[:, 0] = tokens, token_mask
    cand = cand * cand_mask
    text_ids = torch.arange(s["b"])
    text_ids[1] = 0  # one duplicate caption, masked out of the coarse loss
    t = {
        "features": features, "clip_mask": clip_mask, "tokens": tokens, "token_mask": token_mask,
        "cand_tokens": cand, "cand_mask": cand_mask, "text_ids": text_ids,
        "vocab_size": torch.tensor([s["vocab"]]),
    }
    t = {k: (v.to(torch.uint8) if v.dtype == torch.bool else v.contiguous()) for k, v in t.items()}
    save_file(t, f"{folder}/train_inputs.safetensors")


def positions(t, h):
    """Sinusoidal positions as san-models computes them: sin on even, cos on odd channels."""
    p = torch.arange(t, dtype=torch.float64)[:, None]
    i = torch.arange(h)
    rate = 10_000.0 ** (-(i // 2 * 2).double() / h)
    angle = p * rate[None, :]
    return torch.where(i % 2 == 0, angle.sin(), angle.cos()).float()


class Model(torch.nn.Module):
    def __init__(self, dropout):
        super().__init__()
        s = STEP
        self.input = torch.nn.Linear(s["f"], s["hidden"])
        layer = torch.nn.TransformerEncoderLayer(
            s["hidden"], s["heads"], 4 * s["hidden"], dropout, activation="gelu",
            batch_first=True, norm_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, s["layers"], enable_nested_tensor=False)
        self.output = torch.nn.Linear(s["hidden"], s["dim"])
        self.dropout = torch.nn.Dropout(dropout)
        self.embedding = torch.nn.Embedding(s["vocab"], s["dim"])
        self.mlp = torch.nn.Linear(s["dim"], s["dim"])
        self.log_scale = torch.nn.Parameter(torch.zeros(1))
        self.register_buffer("pos", positions(s["t"], s["hidden"]), persistent=False)

    def sign(self, x, mask):
        x = self.dropout(self.input(x) + self.pos[: x.shape[1]])
        x = self.encoder(x, src_key_padding_mask=~mask)
        return F.normalize(self.output(x), dim=-1)

    def text(self, ids):
        x = self.embedding(ids)
        return F.normalize(x + self.mlp(F.gelu(x)), dim=-1)

    def loss(self, x):
        sign = self.sign(x["features"], x["clip_mask"])
        words = self.text(x["tokens"])
        b = sign.shape[0]
        scale = self.log_scale.clamp(0.0, MAX_LOG_SCALE).exp()
        v2t, t2v = clcl_gallery(sign, x["clip_mask"], words, x["token_mask"], chunk=16)
        ids = x["text_ids"]
        dup = (ids[:, None] == ids[None, :]) & ~torch.eye(b, dtype=torch.bool)
        target = torch.arange(b)
        lv = F.cross_entropy((scale * v2t).masked_fill(dup, -1e9), target)
        lt = F.cross_entropy((scale * t2v.T).masked_fill(dup.T, -1e9), target)
        k1, l = x["cand_tokens"].shape[1:]
        caps = self.text(x["cand_tokens"].reshape(b * k1, l)).reshape(b, k1, l, -1)
        e = torch.einsum("amd,akld->akml", sign, caps)
        fv2t, _ = clcl_reduce(e, x["clip_mask"].float()[:, None, :, None],
                              x["cand_mask"].float()[:, :, None, :], TAU_TOK)
        fine = F.cross_entropy(scale * fv2t, torch.zeros(b, dtype=torch.int64))
        return (lv + lt) / 2 + LAMBDA_FINE * fine


def burn_to_torch(ours):
    """Our weights (Burn layout: a linear's weight is [in, out]) as this model's state dict."""
    p = {k: v for k, v in ours.items()}
    sd = {
        "input.weight": p[f"{PREFIX}.input.weight"].T, "input.bias": p[f"{PREFIX}.input.bias"],
        "output.weight": p[f"{PREFIX}.output.weight"].T, "output.bias": p[f"{PREFIX}.output.bias"],
        "embedding.weight": p["text_encoder.Word.embedding.weight"],
        "mlp.weight": p["text_encoder.Word.mlp.weight"].T, "mlp.bias": p["text_encoder.Word.mlp.bias"],
        "log_scale": p["log_scale"],
    }
    for i in range(STEP["layers"]):
        b, t = f"{PREFIX}.encoder.layers.{i}", f"encoder.layers.{i}"
        sd[f"{t}.self_attn.in_proj_weight"] = torch.cat(
            [p[f"{b}.mha.{n}.weight"].T for n in ("query", "key", "value")])
        sd[f"{t}.self_attn.in_proj_bias"] = torch.cat(
            [p[f"{b}.mha.{n}.bias"] for n in ("query", "key", "value")])
        sd[f"{t}.self_attn.out_proj.weight"] = p[f"{b}.mha.output.weight"].T
        sd[f"{t}.self_attn.out_proj.bias"] = p[f"{b}.mha.output.bias"]
        sd[f"{t}.linear1.weight"] = p[f"{b}.pwff.linear_inner.weight"].T
        sd[f"{t}.linear1.bias"] = p[f"{b}.pwff.linear_inner.bias"]
        sd[f"{t}.linear2.weight"] = p[f"{b}.pwff.linear_outer.weight"].T
        sd[f"{t}.linear2.bias"] = p[f"{b}.pwff.linear_outer.bias"]
        # Burn's pre-norm layer normalises with norm_2 before attention, norm_1 before the
        # feed-forward block.
        sd[f"{t}.norm1.weight"] = p[f"{b}.norm_2.gamma"]
        sd[f"{t}.norm1.bias"] = p[f"{b}.norm_2.beta"]
        sd[f"{t}.norm2.weight"] = p[f"{b}.norm_1.gamma"]
        sd[f"{t}.norm2.bias"] = p[f"{b}.norm_1.beta"]
    return {k: v.contiguous() for k, v in sd.items()}


def torch_to_burn(grads):
    """This model's gradients under our names and layouts (the inverse of burn_to_torch)."""
    out = {}
    h = STEP["hidden"]
    direct = {"input": f"{PREFIX}.input", "output": f"{PREFIX}.output",
              "mlp": "text_encoder.Word.mlp"}
    for k, g in grads.items():
        parts = k.split(".")
        if parts[0] in direct:
            out[f"{direct[parts[0]]}.{parts[1]}"] = g.T if parts[1] == "weight" else g
        elif k == "embedding.weight":
            out["text_encoder.Word.embedding.weight"] = g
        elif k == "log_scale":
            out["log_scale"] = g
        else:
            i, rest = parts[2], ".".join(parts[3:])
            b = f"{PREFIX}.encoder.layers.{i}"
            if rest == "self_attn.in_proj_weight":
                for j, n in enumerate(("query", "key", "value")):
                    out[f"{b}.mha.{n}.weight"] = g[j * h:(j + 1) * h].T
            elif rest == "self_attn.in_proj_bias":
                for j, n in enumerate(("query", "key", "value")):
                    out[f"{b}.mha.{n}.bias"] = g[j * h:(j + 1) * h]
            else:
                name = {"self_attn.out_proj": "mha.output", "linear1": "pwff.linear_inner",
                        "linear2": "pwff.linear_outer", "norm1": "norm_2", "norm2": "norm_1"}
                mod, leaf = rest.rsplit(".", 1)
                leaf = {"weight": "gamma", "bias": "beta"}[leaf] if mod.startswith("norm") else leaf
                out[f"{b}.{name[mod]}.{leaf}"] = g.T if leaf == "weight" else g
    return {f"grad.{k}": v.contiguous() for k, v in out.items()}


def load(folder):
    x = load_file(f"{folder}/train_inputs.safetensors", device=DEVICE)
    return {k: (v.bool() if v.dtype == torch.uint8 else v) for k, v in x.items()}


def run_torch(folder):
    setup()
    x = load(folder)
    state = burn_to_torch(load_file(f"{folder}/train_params.safetensors", device=DEVICE))
    out = {}
    for dtype, prefix in [(torch.float32, ""), (torch.float64, "f64_")]:
        model = Model(0.0).to(dtype)
        model.load_state_dict(state)
        xs = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in x.items()}
        loss = model.loss(xs)
        loss.backward()
        out[f"{prefix}loss"] = loss.detach().reshape(1).float().cpu()
        grads = torch_to_burn({k: p.grad for k, p in model.named_parameters()})
        out.update({f"{prefix}{k}": v.float().cpu() for k, v in grads.items()})
    save_file(out, f"{folder}/torch_train.safetensors")

    # Speed: a full step with dropout, as a PyTorch training loop runs it.
    torch.manual_seed(7)
    model = Model(0.1)
    model.load_state_dict(state)
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, eps=1e-5)

    def step():
        optim.zero_grad(set_to_none=True)
        loss = model.loss(x)
        loss.backward()
        optim.step()
        return loss.item()

    _, t_step = timed(step, 5)
    times = {"train_step": t_step, "params": sum(p.numel() for p in model.parameters()),
             "torch": torch.__version__, "threads": torch.get_num_threads(), "device": DEVICE}
    with open(f"{folder}/torch_train.json", "w") as f:
        json.dump(times, f, indent=1)


def check(folder, backend, theirs):
    """Checks one backend's loss and gradients against PyTorch's; returns whether all agree."""
    ours = load_file(f"{folder}/ours_train_{backend}.safetensors")
    ok = set(ours) == {k for k in theirs if not k.startswith("f64_")}
    if not ok:
        print("different outputs:", sorted(set(ours) ^ {k for k in theirs if not k.startswith("f64_")}))
    worst = []
    for key in sorted(k for k in ours if k in theirs):
        a, b, exact = ours[key].double(), theirs[key].double(), theirs[f"f64_{key}"].double()
        scale = exact.abs().max().item()
        ours_err = (a - exact).abs().max().item()
        torch_err = (b - exact).abs().max().item()
        # Both float32 results are judged against PyTorch's float64 one: ours must be within
        # 4x PyTorch's own float32 error or 1e-3 of the largest entry (summation order).
        agree = a.shape == b.shape and ours_err <= max(4 * torch_err, 1e-3 * scale)
        ok &= agree
        worst.append((ours_err / max(scale, 1e-30), key, scale, ours_err, torch_err, agree))
    worst.sort(reverse=True)
    print(f"[{backend}]")
    print(f"{'output (worst 8 of ' + str(len(worst)) + ')':<52} {'max |f64|':>10} {'ours-f64':>10} {'PyTorch-f64':>12}  agree")
    for _, key, scale, oe, te, agree in worst[:8]:
        print(f"{key:<52} {scale:>10.3e} {oe:>10.3e} {te:>12.3e}  {'yes' if agree else 'NO'}")
    print(f"loss: ours {ours['loss'].item():.6f}, PyTorch {theirs['loss'].item():.6f}, float64 {theirs['f64_loss'].item():.6f}")
    print()
    return ok


def report(folder, *backends):
    theirs = load_file(f"{folder}/torch_train.safetensors")
    t_theirs = json.load(open(f"{folder}/torch_train.json"))
    ok = True
    for backend in backends:
        ok &= check(folder, backend, theirs)
    t_ours = {b: json.load(open(f"{folder}/ours_train_{b}.json")) for b in backends}
    s = STEP
    shape = f"B={s['b']}, T={s['t']}, F={s['f']}, L={s['l']}, K={s['k']}, D={s['dim']}"
    head = "".join(f" {b + ' (s)':>13}" for b in backends) + f" {'PyTorch (s)':>12}"
    head += "".join(f" {b + '/PyTorch':>16}" for b in backends)
    print(f"{'computation':<22}{head}")
    row = "".join(f" {t_ours[b]['train_step']:>13.3f}" for b in backends) + f" {t_theirs['train_step']:>12.3f}"
    row += "".join(f" {t_ours[b]['train_step'] / t_theirs['train_step']:>16.2f}" for b in backends)
    print(f"{'train_step':<22}{row}   ({shape}, {t_theirs['params']} weights)")
    for b in backends:
        if t_ours[b]["params"] != t_theirs["params"]:
            ok = False
            print(f"weights differ: {b} {t_ours[b]['params']}, PyTorch {t_theirs['params']}")
    if not ok:
        sys.exit("train step outputs disagree")


if __name__ == "__main__":
    cmd, folder, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    {"inputs": make_inputs, "torch": run_torch, "report": report}[cmd](folder, *rest)
