"""Fine-tune the previous-alpha (feedback) matting model so that it learns to use its prior.

Recipe (after the HiLens MODNet write-up): start from MediaPipe's converted landscape network
with a zero-initialised prev_alpha channel and train on ../shared/data/hsd with the prior and
lighting augmentations of tools/train/augment.py (every probability and range a CLI flag):
- training items are short clips (--clip-len frames of one scene: a photo view drifting, or a
  person cut out and pasted on an empty scene walking, possibly half out of frame; some clips
  see the person leave or enter, some are the empty room after someone left). The network runs
  in closed loop: frame k's prior is its own (detached) output on frame k - 1, as at run time;
- frame 0's prior follows the published augmentations: blank with p 0.3 (people walking in),
  the ground truth under a random affine jitter, erosion/dilation, blotches and softening,
  a plausible wrong mask with p 0.1, and on empty clips the departed person's stale prior;
- lighting: simulated point and line lights, back-light, colour jitter, blur and noise, one
  lighting per clip plus per-frame exposure flicker and fresh noise;
- loss per frame: BCE + L1 to the mask (--gt-weight), BCE to the frozen original network on the
  frame before lighting/noise (--distill), and from frame 1 on the temporal error itself,
  |(a_k - a_(k-1)) - (g_k - g_(k-1))| (--temporal-weight);
- --scope sets what trains (default: only the prior weights of the first conv; see SCOPES).

Data split (fixed, independent of the seed): the pairs sorted by id, every 5th one (positions
4, 9, 14, ...) is validation (46 pairs), the rest (186) training. `--val-folder DIR` links the
validation pairs into DIR for `tools/evaluate/eval_seg.py --data DIR`; `--evaluate CKPT` runs eval_seg's
photo and temporal benchmarks on them, with and without feedback.

    python -m tools.train --run runs/feedback                       # train (default recipe)
    python -m tools.train --run runs/feedback --resume --steps 800  # continue to 800 steps
    python -m tools.train --evaluate mediapipe --evaluate runs/feedback/last.pt
    python -m tools.train --export-from runs/feedback/last.pt --export runs/feedback/model.onnx

Outputs in --run: last.pt (model, optimiser, step, loss history, args; the run resumes from it),
loss.png (training loss and validation metrics), log.jsonl (one line per validation).
Training is deterministic for a seed: each step's batch is drawn from an RNG seeded with
(seed, step), so a resumed run sees exactly the batches an uninterrupted one would.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tools import paths
from tools.model.selfie_net import SelfieSegNet
from tools.train import augment
from tools.train.augment import MODEL_H, MODEL_W, AugConfig

DEFAULT_DATA = paths.hsd()
MODE_NAMES = ("jitter", "blank", "wrong", "stale")
EVENT_NAMES = ("none", "exit", "entry", "empty")
LOAD_MAX_SIDE = 640          # photos are kept at most this large (uint8) for cropping
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


# ----------------------------------------------------------------------------------------------
# data
def list_hsd(root: pathlib.Path) -> list:
    """Sorted (id, image_path, mask_path) of an hsd-like folder (images/*.jpg, masks/*.png)."""
    from tools.evaluate.seg_metrics import list_pairs
    return list_pairs(str(root / "images"), str(root / "masks"))


def split_ids(pairs: list) -> tuple:
    """Fixed split: every 5th pair in id order (positions 4, 9, ...) is validation."""
    val = [p for i, p in enumerate(pairs) if i % 5 == 4]
    train = [p for i, p in enumerate(pairs) if i % 5 != 4]
    return train, val


@dataclasses.dataclass
class Photo:
    name: str
    rgb: np.ndarray         # H x W x 3 uint8
    mask: np.ndarray        # H x W uint8, 0 or 255
    plates: list            # person-free boxes for empty scenes
    crop: tuple             # augment.person_crop: the person's box, for composites (or None)


def load_photos(pairs: list, max_side: int = LOAD_MAX_SIDE) -> list:
    from tools.evaluate.seg_metrics import read_pair
    photos = []
    for name, ip, mp in pairs:
        bgr, mask = read_pair(ip, mp)
        h, w = mask.shape
        k = min(1.0, max_side / max(h, w))
        if k < 1.0:
            size = (int(round(w * k)), int(round(h * k)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask.astype(np.uint8) * 255, size,
                              interpolation=cv2.INTER_AREA) > 127
        m8 = mask.astype(np.uint8) * 255
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        photos.append(Photo(name, rgb, m8, augment.person_free_boxes(m8.astype(np.float32) / 255),
                            augment.person_crop(rgb, m8)))
    return photos


def _view(photo: Photo, m: np.ndarray) -> tuple:
    img = augment.warp_view(photo.rgb, m).astype(np.float32) / 255
    gt = augment.warp_view(photo.mask, m).astype(np.float32) / 255
    return img, gt


def _empty_scene(photos: list, rng: np.random.Generator, cfg: AugConfig) -> np.ndarray:
    """A person-free model-size picture: a person-free crop of some photo, or a photo view with
    its person inpainted away."""
    with_plate = [p for p in photos if p.plates]
    if with_plate and rng.random() < cfg.p_empty_plate:
        donor = with_plate[int(rng.integers(len(with_plate)))]
        box = donor.plates[int(rng.integers(len(donor.plates)))]
        return augment.plate_view(donor.rgb, box, rng).astype(np.float32) / 255
    donor = photos[int(rng.integers(len(photos)))]
    m = augment.random_view(donor.mask.shape[1], donor.mask.shape[0], rng, cfg)
    return augment.inpaint_person(*_view(donor, m), rng)


def _photo_scene(photo: Photo, rng: np.random.Generator, cfg: AugConfig):
    """scene(k) -> (image, gt, empty image) of frame k: the photo's view moved by k steps of one
    small random camera/person motion; the empty image is that view with the person inpainted."""
    h0, w0 = photo.mask.shape
    m = np.vstack([augment.random_view(w0, h0, rng, cfg), [0, 0, 1]])
    j = np.vstack([augment.jitter_affine(rng, cfg.motion_shift, cfg.motion_shift / 2,
                                         cfg.prior_rot_deg / 2), [0, 0, 1]])
    inpaint_rng = np.random.default_rng(int(rng.integers(2 ** 31)))

    def scene(k):
        img, gt = _view(photo, (np.linalg.matrix_power(j, k) @ m)[:2])
        return img, gt, lambda: augment.inpaint_person(img, gt, inpaint_rng)
    return scene


def _composite_scene(photos: list, photo: Photo, rng: np.random.Generator, cfg: AugConfig):
    """The photo's person pasted on an empty scene at a random place and size, possibly half
    out of the frame, walking along x; the empty image is the scene itself."""
    bg = _empty_scene(photos, rng, cfg)
    ph = rng.uniform(cfg.composite_height_min, cfg.composite_height_max) * MODEL_H
    crop = photo.crop
    pw = ph * crop[1].shape[1] / crop[1].shape[0]
    if pw > 0.9 * MODEL_W:                        # wide crops (groups): keep them in frame size
        ph *= 0.9 * MODEL_W / pw
        pw = 0.9 * MODEL_W
    x = rng.uniform(-0.3 * pw, MODEL_W + 0.3 * pw)
    y = MODEL_H + rng.uniform(0, 0.25) * ph if crop[2] else MODEL_H - rng.uniform(0, 0.15) * MODEL_H
    v = rng.uniform(-cfg.walk_speed, cfg.walk_speed) * MODEL_W
    flip = bool(rng.random() < 0.5)
    feather = rng.uniform(0.5, 1.5) if rng.random() < cfg.p_feather else 0.0

    def scene(k):
        img, gt = augment.paste_person(bg, crop, x + k * v, y, ph, flip, feather)
        return img, gt, lambda: bg
    return scene


def initial_prior(gt: np.ndarray, photos: list, rng: np.random.Generator,
                  cfg: AugConfig) -> tuple:
    """(mode, prior) for the first frame of a clip showing a person: blank, wrong or jittered
    ground truth (the published prior augmentations)."""
    u = rng.random()
    if u < cfg.p_blank:
        return "blank", np.zeros_like(gt)
    if u < cfg.p_blank + cfg.p_wrong:
        other = photos[int(rng.integers(len(photos)))]
        om = augment.random_view(other.mask.shape[1], other.mask.shape[0], rng, cfg)
        return "wrong", augment.wrong_prior(gt, _view(other, om)[1], rng, cfg)
    return "jitter", augment.jittered_prior(gt, rng, cfg)


def make_clip(photos: list, idx: int, rng: np.random.Generator, cfg: AugConfig,
              length: int) -> dict:
    """`length` consecutive frames of one scene: image (K x H x W x 3, augmented), clean (the
    same before lighting/noise, for the teacher), gt (K x H x W), the prior of frame 0, its mode
    (blank / wrong / jitter / stale) and the clip's event (none / exit / entry / empty)."""
    photo = photos[idx]
    if photo.crop is not None and rng.random() < cfg.p_composite:
        scene = _composite_scene(photos, photo, rng, cfg)
    else:
        scene = _photo_scene(photo, rng, cfg)
    frames = [scene(k) for k in range(length)]
    imgs = [f[0] for f in frames]
    gts = [f[1] for f in frames]
    u = rng.random()
    cut = int(rng.integers(1, length)) if length > 1 else 0
    if u < cfg.p_empty or (length == 1 and u < cfg.p_empty + cfg.p_exit):
        event, empty_at = "empty", range(length)
    elif length > 1 and u < cfg.p_empty + cfg.p_exit:
        event, empty_at = "exit", range(cut, length)
    elif length > 1 and u < cfg.p_empty + cfg.p_exit + cfg.p_entry:
        event, empty_at = "entry", range(0, cut)
    else:
        event, empty_at = "none", range(0)
    if event == "empty":
        use_plate = rng.random() < cfg.p_empty_plate
        plate = _empty_scene(photos, rng, cfg) if use_plate else None
        for k in empty_at:
            imgs[k] = plate if use_plate else frames[k][2]()
    else:
        for k in empty_at:
            imgs[k] = frames[k][2]()
    for k in empty_at:
        gts[k] = np.zeros_like(gts[k])

    if event == "empty":
        had = frames[0][1]
        if had.max() > 0.5 and rng.random() < cfg.p_stale:
            mode, prior = "stale", augment.jittered_prior(had, rng, cfg)   # the one who just left
        else:
            mode, prior = initial_prior(had, photos, rng, cfg)
    elif event == "entry":
        mode, prior = "blank", np.zeros_like(gts[0])
    else:
        mode, prior = initial_prior(gts[0], photos, rng, cfg)

    # one lighting for the clip; frames differ by exposure flicker and fresh sensor noise
    light = int(rng.integers(2 ** 31))
    out_imgs = []
    for k in range(length):
        x = augment.photometric(imgs[k], gts[k], np.random.default_rng(light), cfg)
        x = x * rng.uniform(1 - cfg.flicker, 1 + cfg.flicker) + rng.normal(
            0, rng.uniform(0, cfg.frame_noise_max), x.shape).astype(np.float32)
        if gts[k].max() > 0.5 and rng.random() < cfg.p_degrade:
            x = augment.degrade(x, rng)
        out_imgs.append(np.clip(x, 0, 1).astype(np.float32))
    return {"image": out_imgs, "clean": imgs, "gt": gts, "prior": prior, "mode": mode,
            "event": event}


def _stack(arrays: list) -> torch.Tensor:
    """N x C x H x W tensor from HxWxC / HxW arrays (numpy stacking: torch.stack of many small
    tensors is slow on a busy machine, its worker threads spin)."""
    return torch.from_numpy(np.stack([a.transpose(2, 0, 1) if a.ndim == 3 else a[None]
                                      for a in arrays]))


def make_batch(photos: list, batch: int, seed: int, step: int, cfg: AugConfig,
               length: int = 1) -> dict:
    """The clips of `step`, a pure function of (seed, step): resumed runs see the same data.
    image / clean: K x N x 3 x H x W, gt: K x N x 1 x H x W, prior: N x 1 x H x W."""
    rng = np.random.default_rng([seed, step])
    idx = rng.integers(0, len(photos), batch)
    clips = [make_clip(photos, int(i), rng, cfg, length) for i in idx]
    out = {k: torch.stack([_stack([c[k][t] for c in clips]) for t in range(length)])
           for k in ("image", "clean", "gt")}
    out["prior"] = _stack([c["prior"] for c in clips])
    out["mode"] = [c["mode"] for c in clips]
    out["event"] = [c["event"] for c in clips]
    return out


# ----------------------------------------------------------------------------------------------
# model
class LogitsTap:
    """Reads the pre-sigmoid output of SelfieSegNet's head (for a numerically safe BCE) through a
    forward hook, so the network module stays the one that is exported."""

    def __init__(self, model: SelfieSegNet):
        self.value = None
        model.head.deconv.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.value = output


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
        model.load_state_dict(torch.load(path, map_location="cpu")["model"])
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


def compute_loss(model, tap, teacher, batch: dict, args) -> tuple:
    """(loss tensor, {part: float}) of a batch of clips, run in closed loop: frame k gets the
    network's own (detached) output on frame k - 1 as prior, frame 0 the clip's prior. Per frame:
    BCE + L1 to the ground truth, distillation to the frozen original network, a hinge on
    certain pixels, and from frame 1 on the temporal error itself,
    |(a_k - a_(k-1)) - (g_k - g_(k-1))|."""
    prior = batch["prior"]
    length = batch["image"].shape[0]
    totals = {}
    loss = 0.0
    prev_alpha = None

    def add(name, value, weight):
        nonlocal loss
        loss = loss + weight * value / length
        totals[name] = totals.get(name, 0.0) + value.item() / length

    for k in range(length):
        model(batch["image"][k], prior)
        logits = tap.value
        alpha = torch.sigmoid(logits)
        gt = batch["gt"][k]
        if args.gt_weight > 0:
            add("bce", F.binary_cross_entropy_with_logits(logits, gt), args.gt_weight)
            add("l1", (alpha - gt).abs().mean(), args.gt_weight * args.l1_weight)
        if teacher is not None and args.distill > 0:
            # the teacher sees the frame before the lighting/noise augmentation: a confident
            # target that also asks the student to be invariant to those
            with torch.no_grad():
                t = teacher(batch["clean" if args.distill_clean else "image"][k])
            add("distill", F.binary_cross_entropy_with_logits(logits, t), args.distill)
        if args.margin_weight > 0:
            # hinge on the logits where the ground truth is certain: BCE's pull fades as alpha
            # nears the target, which can leave a faint haze on empty rooms
            bg, fg = gt <= 0.01, gt >= 0.99
            hinge = (F.relu(logits + args.margin) * bg + F.relu(args.margin - logits) * fg).mean()
            add("margin", hinge, args.margin_weight)
        if k > 0 and args.temporal_weight > 0:
            d = (alpha - prev_alpha) - (gt - batch["gt"][k - 1])
            add("temporal", d.abs().mean(), args.temporal_weight)
        prev_alpha = alpha
        prior = alpha.detach()
    totals["loss"] = float(loss.item())
    return loss, totals


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


# ----------------------------------------------------------------------------------------------
# validation (a quick internal check; the reported numbers come from tools/evaluate/eval_seg.py)
def make_val_set(photos: list, cfg: AugConfig) -> dict:
    """Whole photo stretched to the model size (as the skill sees a frame), plus a jittered prior
    and an inpainted empty version with the stale prior; fixed RNG so every run compares alike."""
    rng = np.random.default_rng(12345)
    imgs, gts, priors, empties = [], [], [], []
    for p in photos:
        h, w = p.mask.shape
        m = np.float64([[MODEL_W / w, 0, 0], [0, MODEL_H / h, 0]])
        img, gt = _view(p, m)
        imgs.append(img)
        gts.append(gt)
        priors.append(augment.jittered_prior(gt, rng, cfg))
        empties.append(augment.inpaint_person(img, gt, rng))
    return {"image": _stack(imgs), "gt": _stack(gts), "prior": _stack(priors),
            "empty": _stack(empties)}


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


# ----------------------------------------------------------------------------------------------
# checkpoints, plots, export
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


# ----------------------------------------------------------------------------------------------
# evaluation on the validation split with tools/evaluate/eval_seg.py (the numbers the targets refer to)
def _val_folder(val_pairs: list, root: pathlib.Path) -> tuple:
    """A folder of symlinks to the validation pairs, for eval_seg's folder-based image API
    (links to ../shared, nothing copied)."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, ip, mp in val_pairs:
        for src, sub in ((ip, "images"), (mp, "masks")):
            dst = root / sub / os.path.basename(src)
            if not dst.exists():
                dst.symlink_to(os.path.abspath(src))
    return str(root / "images"), str(root / "masks")


def evaluate_models(models: list, data: pathlib.Path, n_seq: int = 0) -> list:
    """[(name, module)] -> [(row name, metrics)]: eval_seg's image metrics (zeros as prior) and
    temporal benchmark with and without feedback, persons from the validation split only,
    eval_seg's default plates, sequence count, length, frame size and seed (n_seq > 0 overrides
    the count). Every model sees the very same frames."""
    import tempfile
    from tools.evaluate import eval_seg
    from tools.evaluate import synth_sequence as ss
    from tools.evaluate.seg_metrics import list_pairs
    from tools.evaluate.seg_runners import TorchRunner
    _, val_pairs = split_ids(list_hsd(data))
    d = eval_seg.parse_args(["--model", "-", "--temporal"])
    seqs = ss.make_sequences(val_pairs, ss.load_plates(d.plates), n_seq or d.sequences,
                             ss.SynthConfig(n_frames=d.frames, size=d.frame_wh), d.seed)
    runners = [(name, TorchRunner(m.eval(), (MODEL_W, MODEL_H), True, name=name))
               for name, m in models]
    entries = [(r, fb) for _, r in runners for fb in (True, False)]
    temporal = eval_seg.evaluate_temporal_many(entries, seqs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        images, masks = _val_folder(val_pairs, pathlib.Path(tmp))
        assert len(list_pairs(images, masks)) == len(val_pairs)
        for i, (name, r) in enumerate(runners):
            img = eval_seg.evaluate_images(r, images, masks)
            for j, fb in enumerate((True, False)):
                t = dict(temporal[2 * i + j])
                t.update({"img_" + k: v for k, v in img.items() if k != "n"})
                rows.append(("%s [%s]" % (name, "feedback" if fb else "zeros prev"), t))
    return rows


def print_evaluation(rows: list) -> None:
    from tools.evaluate import seg_metrics as sm
    from tools.evaluate import eval_seg  # noqa: F401  (registers the temporal table columns)
    cols = ("n", "iou", "iou_rest", "empty_alpha", "tempo_err", "tempo_err_still",
            "tempo_err_move", "exit_recover", "entry_recover", "censored", "img_fg_iou",
            "img_boundary_f")
    print(sm.format_table(rows, cols, headers={"img_fg_iou": "photo IoU",
                                               "img_boundary_f": "photo F"}))


# ----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="hsd-like folder")
    ap.add_argument("--run", default=str(paths.REPO / "runs" / "feedback"),
                    help="output folder for checkpoints, log and loss curve")
    ap.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    ap.add_argument("--init", default="mediapipe",
                    help="mediapipe (converted weights), random, or a checkpoint .pt")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=6, help="clips per step")
    ap.add_argument("--clip-len", type=int, default=8,
                    help="frames per clip, run in closed loop (1: single frames)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--prior-lr-mult", type=float, default=1.0,
                    help="learning-rate multiplier for the prev_alpha weights of the first conv")
    ap.add_argument("--lr-final", type=float, default=0.1, help="final lr as a fraction of --lr")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--gt-weight", type=float, default=0.3,
                    help="weight of BCE (+ l1-weight x L1) to the ground-truth masks")
    ap.add_argument("--l1-weight", type=float, default=1.0)
    ap.add_argument("--distill", type=float, default=1.0,
                    help="weight of BCE to the frozen original network (0: off)")
    ap.add_argument("--distill-clean", type=int, default=1,
                    help="1: the teacher sees the frame before lighting/noise augmentation")
    ap.add_argument("--margin", type=float, default=4.0, help="logit margin of the hinge loss")
    ap.add_argument("--margin-weight", type=float, default=0.0,
                    help="weight of the logit hinge loss on certain pixels (0: off)")
    ap.add_argument("--temporal-weight", type=float, default=30.0,
                    help="weight of the frame-pair temporal error on 'self' samples")
    ap.add_argument("--scope", choices=sorted(SCOPES), default="prior",
                    help="what trains: prior = only the prev_alpha weights of the first conv; "
                         "last-stage = + the last decoder stage's convs; decoder = + all "
                         "decoder convs; all = everything")
    ap.add_argument("--freeze", default="",
                    help="comma-separated parameter-name prefixes to keep fixed (e.g. encoder.)")
    ap.add_argument("--freeze-stem-image", action="store_true",
                    help="keep the first conv's RGB weights (its prior channel still learns)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a shared machine: idle workers spin)")
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--no-val", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--export", default="", help="write the trained model to this ONNX file")
    ap.add_argument("--evaluate", action="append", default=[],
                    help="only evaluate (repeatable): mediapipe or a checkpoint .pt; eval_seg "
                         "temporal + photo metrics on the validation split")
    ap.add_argument("--eval-sequences", type=int, default=0,
                    help="number of sequences (0: eval_seg's default)")
    ap.add_argument("--val-folder", default="",
                    help="only write a folder of symlinks to the validation pairs (images/, "
                         "masks/) for tools/evaluate/eval_seg.py --data")
    ap.add_argument("--export-from", default="",
                    help="only export this checkpoint to --export (no training)")
    aug = ap.add_argument_group("augmentation (tools/train/augment.py AugConfig)")
    for f in dataclasses.fields(AugConfig):
        aug.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = ap.parse_args(argv)
    for f in dataclasses.fields(AugConfig):
        if f.name.startswith("p_") and not 0 <= getattr(args, f.name) <= 1:
            ap.error("--%s must be in [0, 1]" % f.name.replace("_", "-"))
    if args.p_blank + args.p_wrong > 1:
        ap.error("--p-blank + --p-wrong must not exceed 1")
    if args.p_empty + args.p_exit + args.p_entry > 1:
        ap.error("--p-empty + --p-exit + --p-entry must not exceed 1")
    if args.clip_len < 1:
        ap.error("--clip-len must be at least 1")
    return args


def aug_config(args) -> AugConfig:
    return AugConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(AugConfig)})


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

    history = {"loss": [], "parts": [], "val": []}
    start = 0
    ckpt = run / "last.pt"
    if args.resume:
        if not ckpt.is_file():
            raise FileNotFoundError("--resume: no checkpoint %s" % ckpt)
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history = state["step"], state["history"]
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


def main(argv=None):
    args = parse_args(argv)
    if args.export_from:
        if not args.export:
            raise SystemExit("--export-from needs --export PATH.onnx")
        model = build_model(args.export_from)
        export(model, pathlib.Path(args.export))
        print("wrote %s" % args.export)
        return
    if args.val_folder:
        _, val_pairs = split_ids(list_hsd(pathlib.Path(args.data)))
        _val_folder(val_pairs, pathlib.Path(args.val_folder))
        print("%d validation pairs linked under %s" % (len(val_pairs), args.val_folder))
        return
    if args.evaluate:
        torch.set_num_threads(args.threads)
        models = [(pathlib.Path(e).parent.name if e.endswith(".pt") else e, build_model(e))
                  for e in args.evaluate]
        print_evaluation(evaluate_models(models, pathlib.Path(args.data), args.eval_sequences))
        return
    out = train(args)
    print("%.3f s/step; final loss (mean of last 20) %.4f"
          % (out["history"]["sec_per_step"], np.mean(out["history"]["loss"][-20:])))


if __name__ == "__main__":
    main()
