"""The feedback-head recipe: MediaPipe's network frozen, a small FeedbackHead after it trained in
closed loop with the prior exactly as the skill makes it.

- The frozen network runs in ONNX Runtime (FrozenBackbone: its logits, no gradient needed), a
  few times faster than PyTorch on one CPU core, once per clip: the clips and their logits are
  kept in a bank (tools/train/bank.py) that training draws windows of clips from; only the
  head (a few hundred weights) trains, through head_matmul (its forward as matrix products).
- Closed loop: frame k's prior is prior_transform(alpha of frame k - 1), the skill's own
  transform (utils/temporal.py) on frame 0's augmented "previous alpha", and its torch twin
  `prior_transform_torch` (bit-identical, tested) inside the clip, so the gradient also flows
  through the loop (--bptt) and the head learns the loop's behaviour, not one step's.
- Loss per frame: BCE to the frozen network on the clean frame (the picture before lighting,
  exposure and noise: a steady target that keeps per-frame accuracy), BCE + L1 to the masks
  where the masks can be trusted (not on unlabelled passers-by), and the temporal error itself,
  |(a_k - a_{k-1}) - (g_k - g_{k-1})| (--motion-weight: more weight where the masks moved).
- Validation (`ValSet`): fixed clips of the validation people (never trained on) at model size,
  closed loop from a blank prior as the skill starts: still portraits (temporal error and IoU,
  head on against head off = the per-frame network), walks in and out of empty rooms (moving IoU,
  frames to appear and to clear, empty-frame alpha), hsd validation photos (IoU, zero prior)
  and the DAVIS clips not trained on (IoU, temporal error).
"""
from __future__ import annotations

import io
import json
import math
import pathlib
import time
import warnings

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tools.model.selfie_net import SelfieSegNet
from tools.train import augment, bank, clips
from tools.train.augment import MODEL_H, MODEL_W, AugConfig
from tools.train.loop import load_checkpoint, new_history, resume

HEAD_PREFIX = "feedback."


def skill_prior_settings() -> tuple:
    """(decay, floor) the skill uses by default (utils/config.py), so the trained loop is the
    shipped one."""
    from utils.config import KEY_BY_NAME
    return KEY_BY_NAME["prior_decay"].default, KEY_BY_NAME["prior_floor"].default


def prior_transform_torch(alpha: torch.Tensor, decay: float, floor: float) -> torch.Tensor:
    """utils.temporal.prior_transform in torch, differentiable: clamp((decay * alpha - floor) /
    (1 - floor), 0, 1). Computed in float64 and rounded once, which gives exactly the float32
    values of the skill's OpenCV pass (test_train_feedback checks it bit for bit)."""
    scale = decay / (1.0 - floor)
    offset = -floor / (1.0 - floor)
    return (alpha.double() * scale + offset).float().clamp(0.0, 1.0)


def prior_transform_np(alpha: np.ndarray, decay: float, floor: float) -> np.ndarray:
    from utils.temporal import prior_transform
    return prior_transform(np.ascontiguousarray(alpha, np.float32), decay, floor)


# ----------------------------------------------------------------------------------------------
# model
def build_model(init: str = "mediapipe", head_channels: int = 8) -> SelfieSegNet:
    """SelfieSegNet(prior_at="head"): MediaPipe's converted landscape weights (or random) and a
    zero (identity) head; `init` may also be a checkpoint .pt of this recipe (its head size
    is read from it)."""
    state = None
    if init not in ("mediapipe", "random"):
        path = pathlib.Path(init)
        if not path.is_file():
            raise FileNotFoundError("--init: no such checkpoint %s (or use mediapipe/random)"
                                    % path)
        state = load_checkpoint(path, "--init")["model"]
        if "feedback.out.weight" not in state:
            raise ValueError("--init: %s is not a checkpoint of the head recipe (no "
                             "feedback.* weights)" % path)
        head_channels = int(state["feedback.out.weight"].shape[1])
    model = SelfieSegNet("landscape", prev_alpha=True, prior_at="head",
                         head_channels=head_channels)
    if init == "mediapipe":
        from tools.model.mediapipe_import import load_selfie_net
        base = load_selfie_net("landscape", prev_alpha=False)
        missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
        assert not unexpected and all(k.startswith(HEAD_PREFIX) for k in missing)
    elif state is not None:
        model.load_state_dict(state)
    return model.eval()


def is_head_checkpoint(path) -> bool:
    return "feedback.out.weight" in load_checkpoint(path)["model"]


class FrozenBackbone:
    """The network without its head, in ONNX Runtime: images N x 3 x H x W -> logits
    N x 1 x H x W (float32 tensors, no gradient). Exported from `model` once, in memory."""

    def __init__(self, model: SelfieSegNet, threads: int = 1, chunk: int = 8):
        from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
        ort = import_onnxruntime()

        class Logits(torch.nn.Module):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, image):
                return self.net.logits(image)

        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Logits(model).eval(), (torch.zeros(2, 3, MODEL_H, MODEL_W),), buf,
                              input_names=["image"], output_names=["logits"], opset_version=11,
                              dynamo=False, dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(buf.getvalue(), opts,
                                            providers=["CPUExecutionProvider"])
        self.chunk = chunk

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(images.numpy(), np.float32)
        outs = [self.session.run(None, {"image": x[i:i + self.chunk]})[0]
                for i in range(0, len(x), self.chunk)]
        return torch.from_numpy(np.concatenate(outs))


def head_parameters(model: SelfieSegNet) -> list:
    """Freeze everything but the head; returns the head's parameters."""
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(HEAD_PREFIX))
        if p.requires_grad:
            params.append(p)
    return params


# ----------------------------------------------------------------------------------------------
# closed loop and loss
def head_matmul(head, logits: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """FeedbackHead.forward with its convs as matrix products on channels-last tensors: the
    same numbers (test_train_feedback), ~3x faster to train on the CPU, where the backward
    pass of convs with 2-10 channels is slow."""
    x = head.inputs(logits, prior)                                   # N 2 h w (half size)
    n, _, h, w = x.shape
    c = head.channels
    xl = x.permute(0, 2, 3, 1)
    xp = F.pad(xl, (0, 0, 1, 1, 1, 1))
    cols = torch.cat([xp[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], -1)
    w1 = head.spatial.weight.permute(0, 2, 3, 1).reshape(c, 18)
    local = torch.relu(torch.addmm(head.spatial.bias, cols.reshape(-1, 18), w1.t()))
    e = torch.relu(torch.addmm(head.motion.bias, xl.reshape(-1, 2),
                               head.motion.weight[:, :, 0, 0].t()))
    e = e.reshape(n, h, w, -1).permute(0, 3, 1, 2)
    motion = head.window_mean(e).permute(0, 2, 3, 1).reshape(n * h * w, -1)
    y = torch.relu(torch.addmm(head.mix.bias, torch.cat([local, motion], 1),
                               head.mix.weight[:, :, 0, 0].t()))
    d = torch.addmm(head.out.bias, y, head.out.weight[:, :, 0, 0].t()).reshape(n, 1, h, w)
    d = d.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    return logits + prior * d


def run_loop(head, logits: torch.Tensor, prior0: torch.Tensor, decay: float, floor: float,
             bptt: bool = True, enabled: bool = True, step=None) -> list:
    """Out logits per frame of logits K x N x 1 x H x W, frame 0 with prior0, frame k with
    prior_transform(alpha_{k-1}). enabled=False: the per-frame network (logits as they are).
    step(head, logits, prior): one frame (default: the head's own forward)."""
    step = step or (lambda m, z, p: m(z, p))
    prior = prior0
    outs = []
    for k in range(logits.shape[0]):
        z = step(head, logits[k], prior) if enabled else logits[k]
        outs.append(z)
        a = torch.sigmoid(z)
        prior = prior_transform_torch(a if bptt else a.detach(), decay, floor)
    return outs


def trusted_labels(gt: torch.Tensor, teacher_logits: torch.Tensor, margin: int = 8):
    """1 where the mask can be trusted, 0 on pixels the frozen network calls person (logit > 0)
    farther than `margin` pixels from every labelled person: ccp and hsd label one person per
    photo, so these are mostly passers-by the masks leave out (OpenCV: a 17x17 max filter per
    frame is ~100x faster than torch's on the CPU)."""
    import cv2
    h, w = gt.shape[-2:]
    g = gt.reshape(-1, h, w).numpy()
    t = teacher_logits.reshape(-1, h, w).numpy()
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    keep = np.empty(g.shape, np.float32)
    for i in range(len(g)):
        near = cv2.dilate((g[i] >= 0.5).astype(np.uint8), kernel)
        keep[i] = 1.0 - ((t[i] > 0) & (near == 0))
    return torch.from_numpy(keep).reshape(gt.shape)


def compute_loss(head, batch: dict, logits: torch.Tensor, teacher: torch.Tensor, args,
                 keep: torch.Tensor = None) -> tuple:
    """(loss, {part: float}) of a batch in closed loop; `keep` the trusted_labels of the batch
    (computed here when None)."""
    decay, floor = args.prior_decay, args.prior_floor
    prior0 = torch.from_numpy(prior_transform_np(batch["prior_alpha"].numpy(), decay, floor))
    outs = run_loop(head, logits, prior0, decay, floor, bptt=args.bptt, step=head_matmul)
    k_frames = len(outs)
    parts = {}
    loss = 0.0

    def add(name, value, weight):
        nonlocal loss
        loss = loss + weight * value / k_frames
        parts[name] = parts.get(name, 0.0) + value.item() / k_frames

    if args.gt_weight > 0 and keep is None:
        keep = trusted_labels(batch["gt"], teacher)
    prev_a = None
    for k, z in enumerate(outs):
        a = torch.sigmoid(z)
        gt = batch["gt"][k]
        t = torch.sigmoid(teacher[k])
        # where the person moved (the masks changed, and a pixel around that) lag and trails
        # cost `motion_weight` times more: a few pixels against a frame of still ones
        moved = 1.0
        if k > 0 and args.motion_weight > 0:
            changed = F.max_pool2d((gt - batch["gt"][k - 1]).abs(), 3, 1, 1)
            moved = 1.0 + args.motion_weight * changed
        if args.distill > 0:
            add("distill", (F.binary_cross_entropy_with_logits(z, t, reduction="none")
                            * moved).mean(), args.distill)
        if args.gt_weight > 0:
            w = keep[k] * moved
            bce = F.binary_cross_entropy_with_logits(z, gt, weight=w)
            add("bce", bce + args.l1_weight * ((a - gt).abs() * w).mean(), args.gt_weight)
        if k > 0 and args.temporal_weight > 0:
            d = (a - prev_a) - (gt - batch["gt"][k - 1])
            add("temporal", d.abs().mean(), args.temporal_weight)
        prev_a = a
    parts["loss"] = float(loss.item())
    return loss, parts


# ----------------------------------------------------------------------------------------------
# validation
def _walk_sequence(plates: list, photo, rng: np.random.Generator, aug: AugConfig,
                   cc: clips.ClipConfig, camera) -> dict:
    """An empty room, a person walking in from outside to a spot, standing, walking out, the
    room empty again; with exposure flicker and noise. phase per frame: empty, enter, move,
    stand, leave."""
    bg = plates[int(rng.integers(len(plates)))]
    crop = photo.crop
    ph = rng.uniform(0.5, 0.95) * MODEL_H
    pw = min(ph * crop[1].shape[1] / crop[1].shape[0], 0.6 * MODEL_W)
    ph = pw * crop[1].shape[0] / crop[1].shape[1] if pw == 0.6 * MODEL_W else ph
    y = MODEL_H + rng.uniform(0, 0.2) * ph if crop[2] else MODEL_H - rng.uniform(0, 0.1) * MODEL_H
    v = rng.uniform(0.02, 0.05) * MODEL_W
    side = rng.choice([-1, 1])
    out_x = MODEL_W / 2 + side * (MODEL_W / 2 + pw / 2 + 2)
    rest = rng.uniform(0.3, 0.7) * MODEL_W
    walk_in = list(np.arange(out_x, rest, -side * v))
    exit_side = rng.choice([-1, 1])
    end_x = MODEL_W / 2 + exit_side * (MODEL_W / 2 + pw / 2 + 2)
    walk_out = list(np.arange(rest, end_x, exit_side * v))[1:] + [end_x]
    xs = [None] * 3 + walk_in + [rest] * 8 + walk_out + [None] * 6
    n = len(xs)
    gain = clips._exposure(rng, cc, n)
    sigma = rng.uniform(0.003, cc.noise_sigma)
    light = int(rng.integers(2 ** 31))
    images, gts, phases = [], [], []
    for k, x in enumerate(xs):
        if x is None:
            img, gt = bg, np.zeros((MODEL_H, MODEL_W), np.float32)
        else:
            img, gt = augment.paste_person(bg, crop, float(x), y, ph, False, 0.8)
        inside = x is not None and pw / 2 <= x <= MODEL_W - pw / 2
        if gt.max() < 0.5:
            phase = "empty"
        elif k < 3 + len(walk_in):
            phase = "move" if inside else "enter"
        elif k < 3 + len(walk_in) + 8:
            phase = "stand"
        else:
            phase = "move" if inside else "leave"
        img = augment.photometric(img, gt, np.random.default_rng(light), aug) * gain[k]
        img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma)
        images.append(camera(np.clip(img, 0, 1)))
        gts.append(gt)
        phases.append(phase)
    return {"image": np.stack(images), "gt": np.stack(gts)[:, None], "phase": phases}


class ValSet:
    """Fixed validation clips of the validation people, their frozen-network logits cached (the
    network does not train), run in closed loop from a blank prior as the skill starts."""

    def __init__(self, backbone: FrozenBackbone, n_still: int = 16, n_walk: int = 12,
                 still_len: int = 24, seed: int = 12345, limit: int = 0,
                 collections=("hsd", "ccp"), davis=()):
        src = clips.load_sources(collections, which="val", limit=limit)
        rng = np.random.default_rng(seed)
        camera = clips.CameraPath()
        aug = AugConfig(p_point_light=0.1, p_line_light=0.05, p_backlight=0.05, p_color=0.3,
                        p_noise=0.0, p_blur=0.0)
        cc = clips.ClipConfig(p_no_drift=0.2)
        people = [p for p in src.photos if p.crop is not None and 0.03 < p.mask.mean() / 255]
        self.still = []
        for i in range(n_still):
            photo = people[int(rng.integers(len(people)))]
            scene = clips._still_scene(photo, rng, aug, cc, still_len)
            frames = [scene(k) for k in range(still_len)]
            gain = clips._exposure(rng, cc, still_len)
            sigma = rng.uniform(0.003, cc.noise_sigma)
            light = int(rng.integers(2 ** 31))
            imgs = []
            for k, (img, gt, _) in enumerate(frames):
                x = augment.photometric(img, gt, np.random.default_rng(light), aug) * gain[k]
                x = x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)
                imgs.append(camera(np.clip(x, 0, 1)))
            self.still.append({"image": np.stack(imgs),
                               "gt": np.stack([f[1] for f in frames])[:, None]})
        # empty rooms: person-free crops of the validation photos (an inpainted view would
        # leave a person-shaped smudge that is no empty room)
        plates = [clips._empty_scene(src.photos, rng, AugConfig(p_empty_plate=1.0))
                  for _ in range(8)]
        self.walks = [_walk_sequence(plates, people[int(rng.integers(len(people)))], rng, aug,
                                     cc, camera) for _ in range(n_walk)]
        self.photos = []
        for p in src.photos:
            if not p.name.startswith("hsd/"):
                continue
            h, w = p.mask.shape
            m = np.float64([[MODEL_W / w, 0, 0], [0, MODEL_H / h, 0]])
            img, gt = clips._view(p, m)
            self.photos.append((camera(img), (gt >= 0.5).astype(np.float32)))
        # real video: whole DAVIS frames stretched to the model size, as the skill sees them
        self.davis = []
        for clip in (clips.load_davis(list(davis)) if davis else []):
            size = (MODEL_W, MODEL_H)
            imgs = [camera(cv2.resize(f, size, interpolation=cv2.INTER_AREA) / 255.0)
                    for f in clip.rgb]
            gts = [(cv2.resize(m, size, interpolation=cv2.INTER_AREA) >= 128)[None]
                   for m in clip.mask]
            self.davis.append({"name": clip.name, "image": np.stack(imgs),
                               "gt": np.stack(gts).astype(np.float32)})
        for seq in self.still + self.walks + self.davis:
            seq["logits"] = backbone(torch.from_numpy(seq["image"]))
        if self.photos:
            self.photo_logits = backbone(torch.from_numpy(np.stack([p[0] for p in self.photos])))
            self.photo_gt = torch.from_numpy(np.stack([p[1][None] for p in self.photos]))

    def describe(self) -> str:
        return "%d still clips x %d frames, %d walks (%d frames), %d hsd photos%s" % (
            len(self.still), len(self.still[0]["gt"]) if self.still else 0, len(self.walks),
            sum(len(w["gt"]) for w in self.walks), len(self.photos),
            "".join(", DAVIS %s (%d frames)" % (d["name"], len(d["gt"])) for d in self.davis))


def _iou(a: np.ndarray, g: np.ndarray) -> float:
    p, q = a >= 0.5, g >= 0.5
    union = np.count_nonzero(p | q)
    return float(np.count_nonzero(p & q)) / union if union else 1.0


def _terr(alphas: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """Per frame t >= 1: mean |(a_t - a_{t-1}) - (g_t - g_{t-1})|."""
    return np.abs(np.diff(alphas, axis=0) - np.diff(gts, axis=0)).reshape(len(alphas) - 1,
                                                                           -1).mean(1)


@torch.no_grad()
def _closed_loop_alpha(head, seq: dict, decay: float, floor: float, enabled: bool):
    zero = torch.zeros(1, 1, MODEL_H, MODEL_W)
    z = run_loop(head, seq["logits"][:, None], zero, decay, floor, enabled=enabled)
    return torch.sigmoid(torch.stack(z))[:, 0, 0].numpy()


@torch.no_grad()
def evaluate_head(head, val: ValSet, decay: float, floor: float, enabled: bool = True) -> dict:
    """Validation numbers of the closed loop (enabled=False: the per-frame network); every
    sequence starts from a blank prior, as the skill does."""
    out = {}

    def iou_and_terr(name, seqs):
        terr, ious = [], []
        for seq in seqs:
            a = _closed_loop_alpha(head, seq, decay, floor, enabled)
            g = seq["gt"][:, 0]
            terr += list(_terr(a, g))
            ious += [_iou(a[k], g[k]) for k in range(len(a))]
        out[name + "_terr"] = float(np.mean(terr)) * 1e3
        out[name + "_iou"] = float(np.mean(ious))
    iou_and_terr("still", val.still)
    by_phase = {}
    appear, clear, after, walk_terr = [], [], [], []
    for seq in val.walks:
        a = _closed_loop_alpha(head, seq, decay, floor, enabled)
        g = seq["gt"][:, 0]
        ph = seq["phase"]
        walk_terr += list(_terr(a, g))
        for k, phase in enumerate(ph):
            if phase != "empty":
                by_phase.setdefault(phase, []).append(_iou(a[k], g[k]))
        first = next(k for k in range(len(ph)) if g[k].mean() >= 0.005)
        hit = next((k for k in range(first, len(ph)) if _iou(a[k], g[k]) >= 0.5), len(ph))
        appear.append(hit - first)
        gone = max(k for k, p in enumerate(ph) if p != "empty") + 1
        cleared = next((k for k in range(gone, len(ph)) if a[k].mean() < 0.01), len(ph))
        clear.append(cleared - gone)
        after.append([float(a[k].mean()) for k in range(gone, len(ph))])
    for phase, v in sorted(by_phase.items()):
        out["walk_iou_" + phase] = float(np.mean(v))
    out["walk_terr"] = float(np.mean(walk_terr)) * 1e3
    out["appear"] = float(np.mean(appear))
    out["clear"] = float(np.mean(clear))
    # mean alpha of the 1st and 2nd frame after the person left, and of the rest
    out["exit_alpha_1"] = float(np.mean([v[0] for v in after]))
    out["exit_alpha_2"] = float(np.mean([v[1] for v in after]))
    out["exit_alpha"] = float(np.mean([x for v in after for x in v]))
    if val.davis:
        iou_and_terr("davis", val.davis)
    if val.photos:
        z = head(val.photo_logits, torch.zeros_like(val.photo_logits)) if enabled \
            else val.photo_logits
        a = torch.sigmoid(z).numpy()
        out["photo_iou"] = float(np.mean([_iou(a[i, 0], val.photo_gt[i, 0].numpy())
                                          for i in range(len(a))]))
    return out


def compare(head, val: ValSet, decay: float, floor: float, base: dict = None) -> dict:
    """evaluate_head with the head, plus ratios (_x) and differences (d_) to the per-frame
    network."""
    v = evaluate_head(head, val, decay, floor)
    base = base or evaluate_head(head, val, decay, floor, enabled=False)
    for key in ("still_terr", "walk_terr", "davis_terr"):
        if key in v:
            v[key + "_x"] = v[key] / base[key]
    for key in ("still_iou", "photo_iou", "davis_iou", "walk_iou_move", "walk_iou_enter", "walk_iou_leave",
                "appear", "clear", "exit_alpha_1", "exit_alpha_2"):
        if key in v and key in base:
            v["d_" + key] = v[key] - base[key]
    return v


# ----------------------------------------------------------------------------------------------
# training
def lr_at(step: int, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (args.lr_final + (1 - args.lr_final) * 0.5 * (1 + math.cos(math.pi * min(t, 1))))


def _save(path: pathlib.Path, model, opt, step: int, history: dict, args) -> None:
    tmp = path.with_suffix(".tmp")
    plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "history": history, "args": plain, "recipe": "head"}, tmp)
    tmp.replace(path)


def _fmt(v: dict) -> str:
    return "  ".join("%s %.4g" % (k, x) for k, x in v.items() if k != "step")


def train(args, echo=print) -> dict:
    """Train (or resume) the head on the clip bank (built or extended first when it holds
    fewer than --bank-clips clips); returns {"model", "history"}. RUN/last.pt resumes."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run = pathlib.Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    model = build_model(args.init, args.head_channels)
    backbone = FrozenBackbone(model, threads=args.threads)
    folder = pathlib.Path(args.bank) if args.bank else run / "bank"
    t0 = time.time()
    bank.build(folder, args, backbone, args.bank_clips, echo=None if args.quiet else echo)
    clips_bank = bank.Bank(folder)
    if not args.quiet:
        echo("bank %s: %d clips of %d frames (%.0f s)" % (folder, clips_bank.count,
                                                         args.clip_len, time.time() - t0))
    params = head_parameters(model)
    opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    ckpt = run / "last.pt"
    start, history = resume(ckpt, model, opt) if args.resume else (0, new_history())
    val = base = None
    log = open(run / "log.jsonl", "a")
    head = model.feedback
    if not args.no_val:
        t0 = time.time()
        held_out = [c for c in args.val_davis if c not in args.davis]
        val = ValSet(backbone, args.val_still, args.val_walks, limit=args.limit,
                     collections=args.collections, davis=held_out)
        base = evaluate_head(head, val, args.prior_decay, args.prior_floor, enabled=False)
        echo("validation: %s (%.0f s)\nper-frame network: %s" % (val.describe(),
                                                                 time.time() - t0, _fmt(base)))
        log.write(json.dumps(dict(base, step=-1, per_frame=True)) + "\n")
    t0 = time.time()
    for step in range(start, args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        batch = clips_bank.sample(np.random.default_rng([args.seed, step, 31]), args.batch,
                                  args.window, args.kind_weights)
        head.train()
        loss, parts = compute_loss(head, batch, batch["logits"], batch["teacher"], args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history["loss"].append(parts["loss"])
        history["parts"].append(parts)
        done = step + 1
        if not args.quiet and (done % 50 == 0 or done == args.steps):
            echo("step %d  loss %.4f  (%.3f s/step)" % (done, np.mean(history["loss"][-50:]),
                                                     (time.time() - t0) / (done - start)))
        if val is not None and (done % args.val_every == 0 or done == args.steps):
            v = dict(compare(head, val, args.prior_decay, args.prior_floor, base), step=done)
            history["val"].append(v)
            log.write(json.dumps(v) + "\n")
            log.flush()
            echo("val step %d: %s" % (done, _fmt(v)))
        if done % args.ckpt_every == 0 or done == args.steps:
            _save(ckpt, model, opt, done, history, args)
    log.close()
    history["sec_per_step"] = (time.time() - t0) / max(1, args.steps - start)
    if args.export:
        from tools.train.loop import export
        export(model, pathlib.Path(args.export))
    return {"model": model, "history": history}
