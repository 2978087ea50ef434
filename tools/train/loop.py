"""The training loop: the model and what of it trains (--scope), the optimiser steps, a quick
validation, checkpoints (a run resumes from RUN/last.pt) and the loss curve, the ONNX export."""
from __future__ import annotations

import json
import math
import os
import pathlib
import time

import numpy as np
import torch

from tools import paths
from tools.model.selfie_net import SelfieSegNet
from tools.train.data import aug_config, list_hsd, load_photos, make_batch, make_val_set, split_ids
from tools.train.loss import LogitsTap, compute_loss

# --scope -> parameter-name prefixes kept fixed (every scope but "all" also keeps the first
# conv's RGB weights). Measured (model/MODEL.md): training more than the prior weights on the 186
# hsd photos shifts the network's calibration on unseen rooms (alpha haze on empty frames).
SCOPES = {
    "prior": ("stem.conv.bias", "encoder.", "lraspp.", "decoder.", "head."),
    "last-stage": ("stem.conv.bias", "encoder.", "lraspp.", "decoder.0.", "decoder.1.",
                   "decoder.2.reduce.", "decoder.2.merge.", "head."),
    "decoder": ("stem.conv.bias", "encoder.", "lraspp.", "decoder.0.merge.",
                "decoder.1.merge.", "decoder.2.merge."),
    "all": (),
}


def build_model(init: str, variant: str = "landscape") -> SelfieSegNet:
    """init: "mediapipe" (converted weights, zero prior channel), "random", or a checkpoint."""
    if init == "mediapipe":
        from tools.model.mediapipe_import import load_selfie_net
        return load_selfie_net(variant, prev_alpha=True)
    model = SelfieSegNet(variant, prev_alpha=True)
    if init != "random":
        path = pathlib.Path(init)
        if not path.is_file():
            raise FileNotFoundError("--init: no such checkpoint %s (or use mediapipe/random)"
                                    % path)
        model.load_state_dict(load_checkpoint(path, "--init")["model"])
    return model


def build_teacher(variant: str = "landscape") -> SelfieSegNet:
    """The frozen original network (no prior input), for distillation."""
    from tools.model.mediapipe_import import load_selfie_net
    teacher = load_selfie_net(variant, prev_alpha=False).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def lr_at(step: int, args) -> float:
    """Linear warm-up, then cosine decay to lr * lr_final."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(t, 1)))
    return args.lr * (args.lr_final + (1 - args.lr_final) * cosine)


def train_step(model, tap, teacher, opt, batch: dict, args) -> dict:
    model.train()
    loss, parts = compute_loss(model, tap, teacher, batch, args)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    w = model.stem.conv.weight
    before = w.detach()[:, 3:].clone()
    opt.step()
    if args.prior_lr_mult != 1:
        # the prior channel starts at zero and must grow to matter, while the converted weights
        # should move little: scale the optimiser's update of those few weights (with Adam a
        # step is ~lr whatever the gradient size, so scaling the gradient would not do it)
        with torch.no_grad():
            w[:, 3:] = before + args.prior_lr_mult * (w[:, 3:] - before)
    return parts


# validation (a quick internal check; the reported numbers come from
# tools/train/evaluate.py: cli --evaluate)
def _fg_iou(alpha: torch.Tensor, gt: torch.Tensor) -> float:
    p, g = alpha >= 0.5, gt >= 0.5
    inter = (p & g).flatten(1).sum(1).float()
    union = (p | g).flatten(1).sum(1).float()
    return float(torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean())


@torch.no_grad()
def validate(model, val: dict, chunk: int = 16) -> dict:
    model.eval()

    def run(images, priors):
        return torch.cat([model(images[i:i + chunk], priors[i:i + chunk])
                          for i in range(0, len(images), chunk)])
    zeros = torch.zeros_like(val["prior"])
    a_blank = run(val["image"], zeros)
    a_prior = run(val["image"], val["prior"])
    a_own = a_blank
    for _ in range(4):                                    # 5th frame of a still sequence
        a_own = run(val["image"], a_own)
    a_empty = run(val["empty"], val["prior"])
    return {"iou_blank": _fg_iou(a_blank, val["gt"]), "iou_prior": _fg_iou(a_prior, val["gt"]),
            "iou_own": _fg_iou(a_own, val["gt"]),
            "still_change": float((a_own - a_blank).abs().mean()),
            "empty_stale_alpha": float(a_empty.mean()),
            # how much the network listens to the prior: first-conv weight size, prior vs RGB
            "prior_weight_ratio": float(model.stem.conv.weight[:, 3].abs().mean()
                                        / model.stem.conv.weight[:, :3].abs().mean())}


def load_checkpoint(path, flag: str = "checkpoint") -> dict:
    """A checkpoint written by save_checkpoint, loaded with torch's weights-only unpickler:
    tensors, numbers, strings and containers only, so a crafted last.pt cannot run code.
    Anything else is refused with one line (pickle.UnpicklingError) naming the file."""
    import pickle
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise pickle.UnpicklingError("%s: %s is not a plain checkpoint of this tool (only "
                                     "tensors, numbers, strings and containers are loaded): "
                                     "%s" % (flag, path, first)) from None


def new_history() -> dict:
    return {"loss": [], "parts": [], "val": []}


def resume(ckpt: pathlib.Path, model, opt) -> tuple:
    """(step, history) of RUN/last.pt, its model and optimiser state loaded into model, opt."""
    if not ckpt.is_file():
        raise FileNotFoundError("--resume: no checkpoint %s" % ckpt)
    state = load_checkpoint(ckpt, "--resume")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    return state["step"], state["history"]


def save_checkpoint(path: pathlib.Path, model, opt, step: int, history: dict, args) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "history": history, "args": vars(args)}, tmp)
    os.replace(tmp, path)


def plot_history(history: dict, path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    loss = np.array(history["loss"])
    if len(loss):
        ax1.plot(loss, lw=0.5, alpha=0.4, label="loss")
        k = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax1.plot(np.arange(len(smooth)) + k - 1, smooth, label="loss (mean of %d)" % k)
        ax1.set_yscale("log")
    ax1.set_xlabel("step")
    ax1.legend()
    ax1.set_title("training loss")
    for key in ("iou_blank", "iou_prior", "iou_own", "empty_stale_alpha"):
        pts = [(v["step"], v[key]) for v in history["val"] if key in v]
        if pts:
            ax2.plot(*zip(*pts), marker="o", label=key)
    ax2.set_xlabel("step")
    if history["val"]:
        ax2.legend()
    ax2.set_title("validation (every 5th hsd pair)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def export(model: SelfieSegNet, path: pathlib.Path) -> None:
    from tools.model.export_onnx import export_onnx
    path.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(model.eval(), str(path))


def train(args) -> dict:
    """Run (or resume) a training run; returns the loss history."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = aug_config(args)
    run = pathlib.Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    data = pathlib.Path(args.data)
    if not (data / "images").is_dir():
        raise FileNotFoundError("--data %s: expected images/ and masks/ inside%s"
                                % (data, paths.data_hint(data)))
    train_pairs, val_pairs = split_ids(list_hsd(data))
    if args.limit:
        train_pairs = train_pairs[:args.limit]
    photos = load_photos(train_pairs)
    val = None if args.no_val else make_val_set(load_photos(val_pairs), cfg)

    model = build_model(args.init)
    tap = LogitsTap(model)
    frozen = list(SCOPES[args.scope]) + [s for s in args.freeze.split(",") if s]
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(not any(name.startswith(s) for s in frozen))
        if p.requires_grad:
            params.append(p)
    if args.freeze_stem_image or args.scope != "all":
        # keep the converted RGB weights of the first conv; only its prior channel learns
        # (a zero gradient leaves Adam's update of those elements at exactly zero)
        keep = torch.zeros_like(model.stem.conv.weight)
        keep[:, 3:] = 1
        model.stem.conv.weight.register_hook(lambda g: g * keep)
    opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    teacher = build_teacher() if args.distill > 0 else None

    ckpt = run / "last.pt"
    start, history = resume(ckpt, model, opt) if args.resume else (0, new_history())
    log = open(run / "log.jsonl", "a")
    if val is not None and start == 0:
        v = dict(validate(model, val), step=0)
        history["val"].append(v)
        log.write(json.dumps(v) + "\n")

    steps = range(start, args.steps)
    bar = None
    if not args.quiet:
        from tqdm import tqdm
        bar = tqdm(steps, initial=start, total=args.steps, dynamic_ncols=True)
        steps = bar
    t0 = time.time()
    for step in steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        batch = make_batch(photos, args.batch, args.seed, step, cfg, args.clip_len)
        parts = train_step(model, tap, teacher, opt, batch, args)
        history["loss"].append(parts["loss"])
        history["parts"].append(parts)
        if bar is not None:
            bar.set_postfix(loss="%.4f" % np.mean(history["loss"][-20:]))
        done = step + 1
        if val is not None and (done % args.val_every == 0 or done == args.steps):
            v = dict(validate(model, val), step=done)
            history["val"].append(v)
            log.write(json.dumps(v) + "\n")
            log.flush()
            if bar is not None:
                bar.write("step %d  %s" % (done, "  ".join("%s %.4f" % (k, x) for k, x in v.items()
                                                            if k != "step")))
        if done % args.ckpt_every == 0 or done == args.steps:
            save_checkpoint(ckpt, model, opt, done, history, args)
            plot_history(history, run / "loss.png")
    log.close()
    n = max(1, args.steps - start)
    history["sec_per_step"] = (time.time() - t0) / n
    if args.export:
        export(model, pathlib.Path(args.export))
    return {"model": model, "history": history}
