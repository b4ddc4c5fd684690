"""PyTorch side of the san-core speed comparison (scripts/compare-pytorch.sh).

Subcommands, each taking the work folder:
  inputs DIR   write DIR/inputs.safetensors (seeded; shared by both sides)
  torch DIR    time PyTorch on the inputs, write DIR/torch.safetensors and DIR/torch.json
  report DIR BACKEND...  check DIR/ours_<backend>.safetensors of each backend against
               DIR/torch.safetensors, print each backend's times and ours/PyTorch side by side

The computations follow DESIGN.md §3.1-3.2 and are written the way the research code
(CiCo) writes them: einsum for token similarities, masked softmax, chunked over videos.
PyTorch runs on the CPU with 2 threads, or on its CUDA device when SAN_TORCH_DEVICE=cuda.
"""

import json
import os
import statistics
import sys
import time

import torch
from safetensors.torch import load_file, save_file

TAU_TOK = 0.07
CHUNK = 16
GALLERY = dict(n=642, m=64, l=32, d=512)  # PHOENIX-2014T test
LOSS = dict(b=128, m=64, l=32, d=512, k=5)
LAMBDA_FINE = 0.4
MINING = dict(n=7096, d=512, k=32, tau_sem=0.9, beta=0.95, chunk=256)  # PHOENIX-2014T train


def masks(gen, n, length):
    """Valid-token masks: a random length in [length/2, length] per item, as padding does."""
    lens = torch.randint(length // 2, length + 1, (n,), generator=gen)
    return torch.arange(length)[None, :] < lens[:, None]


def unit(gen, *shape):
    return torch.nn.functional.normalize(torch.randn(*shape, generator=gen), dim=-1)


def make_inputs(folder):
    gen = torch.Generator().manual_seed(20261126)
    g, s = GALLERY, LOSS
    m_video = unit(gen, MINING["n"], MINING["d"])
    # Captions related to their clips (s(t_i, v_i) ≈ 0.8), so the positive-aware filter bites
    # on some candidates rather than on all of them.
    m_text = torch.nn.functional.normalize(
        m_video + 0.75 / MINING["d"] ** 0.5 * torch.randn(MINING["n"], MINING["d"], generator=gen),
        dim=-1,
    )
    t = {
        "g_sign": unit(gen, g["n"], g["m"], g["d"]),
        "g_sign_mask": masks(gen, g["n"], g["m"]),
        "g_words": unit(gen, g["n"], g["l"], g["d"]),
        "g_word_mask": masks(gen, g["n"], g["l"]),
        "l_sign": unit(gen, s["b"], s["m"], s["d"]),
        "l_sign_mask": masks(gen, s["b"], s["m"]),
        "l_words": unit(gen, s["b"], s["l"], s["d"]),
        "l_word_mask": masks(gen, s["b"], s["l"]),
        "l_hard": unit(gen, s["b"], s["k"], s["l"], s["d"]),
        "l_hard_mask": masks(gen, s["b"] * s["k"], s["l"]).reshape(s["b"], s["k"], s["l"]),
        "l_log_scale": torch.tensor([2.659260036932778]),  # log(1/0.07)
        # Every 16th caption repeats the previous one: duplicate texts in the batch.
        "l_text_ids": torch.tensor([i - (i % 16 == 15) for i in range(s["b"])], dtype=torch.int64),
        "m_video": m_video,
        "m_text": m_text,
        "m_text_ids": torch.tensor([i - (i % 16 == 15) for i in range(MINING["n"])], dtype=torch.int64),
    }
    t = {k: (v.to(torch.uint8) if v.dtype == torch.bool else v.contiguous()) for k, v in t.items()}
    save_file(t, f"{folder}/inputs.safetensors")


def clcl_reduce(e, clip_valid, word_valid, tau):
    """e [A,B,M,L]; clip_valid [A|1,B|1,M,1]; word_valid [A|1,B|1,1,L] -> (v2t, t2v) [A,B]."""
    logits = e / tau
    aw = torch.softmax(logits.masked_fill(word_valid == 0, float("-inf")), dim=3)
    per_clip = (aw * e).sum(3, keepdim=True)
    v2t = (per_clip * clip_valid).sum(2) / clip_valid.sum(2)
    ac = torch.softmax(logits.masked_fill(clip_valid == 0, float("-inf")), dim=2)
    per_word = (ac * e).sum(2, keepdim=True)
    t2v = (per_word * word_valid).sum(3) / word_valid.sum(3)
    return v2t.flatten(1), t2v.flatten(1)


def clcl_gallery(sign, sign_mask, words, word_mask, tau=TAU_TOK, chunk=CHUNK):
    nv, nt = sign.shape[0], words.shape[0]
    word_valid = word_mask.float()[None, :, None, :]
    v2t, t2v = [], []
    for s in range(0, nv, chunk):
        e = torch.einsum("amd,bld->abml", sign[s : s + chunk], words)
        clip_valid = sign_mask[s : s + chunk].float()[:, None, :, None]
        a, b = clcl_reduce(e, clip_valid, word_valid, tau)
        v2t.append(a)
        t2v.append(b)
    return torch.cat(v2t), torch.cat(t2v)


def total_loss(sign, sign_mask, words, word_mask, hard, hard_mask, log_scale, text_ids):
    """coarse InfoNCE (duplicate texts masked) + λ · SAN fine loss, as in san-core."""
    b = sign.shape[0]
    v2t, t2v = clcl_gallery(sign, sign_mask, words, word_mask, chunk=b)
    scale = log_scale.exp()
    dup = (text_ids[:, None] == text_ids[None, :]) & ~torch.eye(b, dtype=torch.bool)
    target = torch.arange(b)
    lv = torch.nn.functional.cross_entropy((scale * v2t).masked_fill(dup, -1e9), target)
    lt = torch.nn.functional.cross_entropy((scale * t2v.T).masked_fill(dup.T, -1e9), target)
    coarse = (lv + lt) / 2
    caps = torch.cat([words[:, None], hard], 1)  # [B, 1+K, L, D]
    caps_mask = torch.cat([word_mask[:, None], hard_mask], 1)
    e = torch.einsum("amd,akld->akml", sign, caps)
    fv2t, _ = clcl_reduce(
        e, sign_mask.float()[:, None, :, None], caps_mask.float()[:, :, None, :], TAU_TOK
    )
    fine = torch.nn.functional.cross_entropy(scale * fv2t, torch.zeros(b, dtype=torch.int64))
    return coarse + LAMBDA_FINE * fine


def mine(v, t, ids, k=MINING["k"], tau_sem=MINING["tau_sem"], beta=MINING["beta"], chunk=MINING["chunk"]):
    """Sign-aware instance mining (DESIGN.md §3.4), chunked over anchors: top-k of s(v_i, v_j)
    after excluding i, equal text ids, s(t_i, t_j) >= tau_sem and s(t_i, v_j) > beta s(t_i, v_i)."""
    n = v.shape[0]
    pos = (t * v).sum(1)
    idx, val = [], []
    for s0 in range(0, n, chunk):
        rows = torch.arange(s0, min(s0 + chunk, n))
        score = v[rows] @ v.T
        excl = (ids[rows, None] == ids[None, :]) | ((t[rows] @ t.T) >= tau_sem)
        excl |= (t[rows] @ v.T) > beta * pos[rows, None]
        excl[torch.arange(len(rows)), rows] = True
        top = score.masked_fill(excl, float("-inf")).topk(k, dim=1)
        idx.append(top.indices)
        val.append(top.values)
    return torch.cat(idx), torch.cat(val)


DEVICE = os.environ.get("SAN_TORCH_DEVICE", "cpu")


def setup():
    """2 threads on the CPU; on CUDA, new tensors default to the GPU."""
    torch.set_num_threads(2)
    if DEVICE != "cpu":
        torch.set_default_device(DEVICE)


def sync():
    if DEVICE != "cpu":
        torch.cuda.synchronize()


def timed(fn, repeats):
    fn()  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def run_torch(folder):
    setup()
    x = load_file(f"{folder}/inputs.safetensors", device=DEVICE)
    x = {k: (v.bool() if v.dtype == torch.uint8 else v) for k, v in x.items()}
    with torch.no_grad():
        (gv, gt), t_gallery = timed(
            lambda: clcl_gallery(x["g_sign"], x["g_sign_mask"], x["g_words"], x["g_word_mask"]), 3
        )

    def step(dtype=torch.float32):
        p = {k: x[k].detach().to(dtype).clone().requires_grad_() for k in ["l_sign", "l_words", "l_hard", "l_log_scale"]}
        loss = total_loss(
            p["l_sign"], x["l_sign_mask"], p["l_words"], x["l_word_mask"],
            p["l_hard"], x["l_hard_mask"], p["l_log_scale"], x["l_text_ids"],
        )
        loss.backward()
        return loss.detach(), {k: v.grad for k, v in p.items()}

    (loss, grads), t_loss = timed(step, 5)
    # This machine's matrix-product peak as PyTorch reaches it: [2048, 512] x [512, 2048].
    a, b = torch.randn(2048, 512), torch.randn(512, 2048)
    with torch.no_grad():
        _, t_mm = timed(lambda: a @ b, 20)
    # Useful work of the gallery: 2·D FLOP per (valid clip, valid word) pair.
    g = x["g_sign"].shape[2]
    gallery_flop = 2 * g * x["g_sign_mask"].sum().item() * x["g_word_mask"].sum().item()
    with torch.no_grad():
        (m_idx, m_val), t_mine = timed(lambda: mine(x["m_video"], x["m_text"], x["m_text_ids"]), 3)
    out = {"gallery_v2t": gv, "gallery_t2v": gt, "loss": loss.reshape(1),
           "mining_indices": m_idx.float(), "mining_scores": m_val}
    out.update({f"grad_{k}": v.contiguous() for k, v in grads.items()})
    # The same step in float64 (not timed): the yardstick for both float32 results.
    loss64, grads64 = step(torch.float64)
    out["f64_loss"] = loss64.reshape(1)
    out.update({f"f64_grad_{k}": v.contiguous() for k, v in grads64.items()})
    save_file({k: v.cpu() for k, v in out.items()}, f"{folder}/torch.safetensors")
    times = {"clcl_gallery_642": t_gallery, "loss_fwd_bwd_b128": t_loss, "instance_mining_7096": t_mine,
             "clcl_gallery_642_gflops": gallery_flop / t_gallery / 1e9,
             "matmul_peak_gflops": 2 * 2048 * 512 * 2048 / t_mm / 1e9,
             "torch": torch.__version__, "threads": torch.get_num_threads(), "device": DEVICE}
    with open(f"{folder}/torch.json", "w") as f:
        json.dump(times, f, indent=1)


def check(folder, backend, theirs):
    """Checks one backend's outputs against PyTorch's; returns whether all agree."""
    ours = load_file(f"{folder}/ours_{backend}.safetensors")
    ok = True
    print(f"[{backend}]")
    print(f"{'output':<18} {'max |ref|':>10} {'ours-PyTorch':>13} {'ours-f64':>10} {'PyTorch-f64':>12}  agree")
    for key in sorted(k for k in theirs if not k.startswith("f64_")):
        a, b = ours[key].double(), theirs[key].double()
        if key.startswith("mining_"):
            # Short lists: PyTorch pads with -inf scores (and arbitrary ids), we with -1.
            real = torch.isfinite(theirs["mining_scores"])
            a, b = torch.where(real, a, 0.0), torch.where(real, b, 0.0)
        scale = b.abs().max().item()
        diff = (a - b).abs().max().item()
        exact = theirs.get(f"f64_{key}")
        if key == "mining_indices":
            # Neighbour ids must be identical, except where two neighbours' scores are within
            # 1e-6 of each other (float32 rounding may order such near-ties either way).
            ours_err, torch_err = float("nan"), float("nan")
            sc = theirs["mining_scores"].double()
            gaps = (sc[:, :, None] - sc[:, None, :]).abs()
            gaps += torch.eye(sc.shape[1], dtype=gaps.dtype) * 1e9
            near_tie = gaps.min(2).values <= 1e-6
            wrong = (a != b) & ~near_tie
            print(f"  mining: {(a != b).sum().item()} of {a.numel()} ids differ, all at near-ties: {not wrong.any().item()}")
            agree = a.shape == b.shape and not wrong.any().item()
        elif exact is None:
            # Values: float32 on both sides, ~1e-6 of the largest entry apart.
            ours_err, torch_err = float("nan"), float("nan")
            agree = a.shape == b.shape and diff <= 1e-5 * scale
        else:
            # Gradients sum 128x128x64x32 float32 terms with cancellation, so both sides are
            # judged against PyTorch's float64 result. PyTorch's cascade summation keeps its
            # float32 gradients within ~1e-6 of it; burn-ndarray reduces sequentially in
            # float32 (matmul k-loops, sum_dim lanes), which costs ~1e-4 of the largest entry
            # on the token gradients and ~5e-3 on the scalar log-scale gradient (a 16384-term
            # sum whose terms cancel to 1/1000 of their absolute sum).
            exact = exact.double()
            ours_err = (a - exact).abs().max().item()
            torch_err = (b - exact).abs().max().item()
            rel = 1e-2 if key == "grad_l_log_scale" else 1e-3
            agree = a.shape == b.shape and ours_err <= max(4 * torch_err, rel * scale)
        ok &= agree
        print(f"{key:<18} {scale:>10.3e} {diff:>13.3e} {ours_err:>10.3e} {torch_err:>12.3e}  {'yes' if agree else 'NO'}")
    return ok


def report(folder, *backends):
    theirs = load_file(f"{folder}/torch.safetensors")
    t_theirs = json.load(open(f"{folder}/torch.json"))
    ok = True
    for backend in backends:
        ok &= check(folder, backend, theirs)
        print()
    t_ours = {b: json.load(open(f"{folder}/ours_{b}.json")) for b in backends}
    head = "".join(f" {b + ' (s)':>13}" for b in backends) + f" {'PyTorch (s)':>12}"
    head += "".join(f" {b + '/PyTorch':>16}" for b in backends)
    print(f"{'computation':<22}{head}")
    for key in ["clcl_gallery_642", "loss_fwd_bwd_b128", "instance_mining_7096"]:
        row = "".join(f" {t_ours[b][key]:>13.3f}" for b in backends) + f" {t_theirs[key]:>12.3f}"
        row += "".join(f" {t_ours[b][key] / t_theirs[key]:>16.2f}" for b in backends)
        print(f"{key:<22}{row}")
    peak = t_theirs.get("matmul_peak_gflops")
    if peak:
        for b in backends:
            g = t_ours[b]["clcl_gallery_642_gflops"]
            print(f"\nCLCL gallery on {b}, useful GFLOP/s: {g:.1f} ({100 * g / peak:.0f}% of PyTorch's "
                  f"matmul peak here, [2048,512]x[512,2048]: {peak:.1f} GFLOP/s); PyTorch's own: "
                  f"{t_theirs['clcl_gallery_642_gflops']:.1f}")
    where = t_theirs.get("device", "cpu")
    where = f"{t_theirs['threads']} threads" if where == "cpu" else where
    print(f"\nPyTorch {t_theirs['torch']} on {where}; ours: " + "; ".join(t_ours[b].get("backend", b) for b in backends))
    if not ok:
        sys.exit("outputs disagree")


if __name__ == "__main__":
    cmd, folder, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    {"inputs": make_inputs, "torch": run_torch, "report": report}[cmd](folder, *rest)
