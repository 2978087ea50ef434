"""Closed-loop training clips for the feedback head: what a kiosk camera sees over a few frames,
with the person labels, from the training people only.

Sources (`load_sources`): the training split of hsd and ccp (tools/evaluate/people.py's rule,
every 5th sorted pair is validation and never loaded here) and, only when named, DAVIS clips.
Clip kinds (one drawn per clip, weights in ClipConfig):
- still:  a photo view held still, with slow camera drift (zoom and translation), a slow
          exposure wave plus per-frame gain jitter and fresh sensor noise every frame;
- walk:   a person cut out and pasted on an empty scene, standing (swaying) or walking at up to
          `walk_speed` of the width per frame, in, across or out of the frame (entering and
          leaving come from the path itself); some clips cut the person away mid-clip (an exit
          the prior must not hold) or in (an entry);
- motion: a photo view under a faster random camera/person motion (tools/train/data.py);
- davis:  consecutive frames (stride 1-2) of a DAVIS clip under one random view.
Every clip gets one lighting (point/line/back-light, colour, blur: tools/train/augment.py) and
per-frame exposure and noise. Frame 0's prior follows the published recipe: blank (p_blank),
a plausible wrong mask (p_wrong), else the ground truth jittered, eroded/dilated, blotched and
softened; empty clips start with the departed person's stale mask. That mask is a "previous
alpha": training passes it through prior_transform, as the skill does with its last alpha.

Pictures reach the network as in the skill: the model-size picture as uint8 -> NV21
(hilens.nv21) -> the AIPP of aipp.cfg as the simulator applies it (hilens.aipp) -> float RGB.
`clean` is the same picture before lighting, exposure and noise (the distillation target sees
it). A clip is a pure function of its random generator (tools/train/bank.py seeds one per clip
index).
"""
from __future__ import annotations

import dataclasses
import pathlib

import cv2
import numpy as np

from tools import paths
from tools.evaluate import people
from tools.evaluate.seg_metrics import list_pairs, read_pair
from tools.train import augment
from tools.train.augment import MODEL_H, MODEL_W, AugConfig
from tools.train.data import Photo, _empty_scene, _photo_scene, _view, initial_prior, load_photos

KINDS = ("still", "walk", "motion", "davis")
DAVIS_MAX_SIDE = 480


@dataclasses.dataclass
class ClipConfig:
    """What a clip is made of (each field is a flag of python -m tools.train)."""
    w_still: float = 0.4          # kind weights (davis only counts when DAVIS clips are loaded)
    w_walk: float = 0.35
    w_motion: float = 0.15
    w_davis: float = 0.1
    drift_px: float = 0.8         # still: camera translation, up to this many model px/frame
    drift_zoom: float = 0.003     # still: zoom change up to this fraction per frame
    p_no_drift: float = 0.2       # still: a tripod (no drift at all)
    gain_wave: float = 0.08       # exposure wave amplitude, up to (period 12-40 frames)
    gain_jitter: float = 0.04     # per-frame gain jitter sigma, up to
    noise_sigma: float = 0.02     # per-frame sensor noise sigma, up to (image in [0, 1])
    p_stand: float = 0.35         # walk: the person stands (sways) instead of walking
    p_cut: float = 0.3            # walk: the person vanishes or appears mid-clip


@dataclasses.dataclass
class DavisClip:
    name: str
    rgb: list               # frames, uint8 H x W x 3 (reduced)
    mask: list              # uint8 0/255


def load_davis(names: list, root: pathlib.Path = None) -> list:
    root = paths.require(root or paths.davis(), "DAVIS folder")
    clips = []
    for name in names:
        pairs = list_pairs(str(root / name / "images"), str(root / name / "masks"))
        rgbs, masks = [], []
        for _, ip, mp in pairs:
            bgr, m = read_pair(ip, mp)
            h, w = m.shape
            k = min(1.0, DAVIS_MAX_SIDE / max(h, w))
            size = (int(round(w * k)), int(round(h * k)))
            rgbs.append(cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA),
                                     cv2.COLOR_BGR2RGB))
            masks.append(cv2.resize(m.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA))
        clips.append(DavisClip(name, rgbs, masks))
    return clips


@dataclasses.dataclass
class Sources:
    photos: list            # Photo of the training people (hsd, ccp)
    davis: list             # DavisClip


def load_sources(collections=("hsd", "ccp"), davis=(), limit: int = 0, which: str = "train",
                 max_side: int = 480) -> Sources:
    """The training people (or, which="val", the validation people) of the collections."""
    photos = []
    for name in collections:
        train, val = people.split(people.list_collection(name))
        pairs = train if which == "train" else val
        if limit:
            pairs = pairs[:limit]
        for p in load_photos(pairs, max_side):
            p.name = "%s/%s" % (name, p.name)
            photos.append(p)
    return Sources(photos, load_davis(list(davis)) if davis else [])


# ----------------------------------------------------------------------------------------------
# scenes: scene(k) -> (image, gt, empty image thunk), all float32 at model size
def _sway(rng: np.random.Generator, n: int, speed: float, period: tuple) -> np.ndarray:
    """A sine of random phase and period (frames) whose fastest change is `speed` a frame."""
    t = rng.uniform(*period)
    return speed * t / (2 * np.pi) * np.sin(2 * np.pi * np.arange(n) / t + rng.uniform(0, 6.3))


def _still_scene(photo: Photo, rng: np.random.Generator, aug: AugConfig, cc: ClipConfig,
                 length: int):
    """A photo view with slow drift: each frame resampled from the photo (as a real camera)."""
    h0, w0 = photo.mask.shape
    m = np.vstack([augment.random_view(w0, h0, rng, aug), [0, 0, 1]])
    still = rng.random() < cc.p_no_drift
    v_px = 0.0 if still else rng.uniform(0, cc.drift_px)
    v_z = 0.0 if still else rng.uniform(0, cc.drift_zoom)
    tx, ty = _sway(rng, length, v_px, (16, 60)), _sway(rng, length, v_px / 2, (16, 60))
    zs = 1 + _sway(rng, length, v_z, (16, 60))
    inpaint_rng = np.random.default_rng(int(rng.integers(2 ** 31)))
    cx, cy = MODEL_W / 2, MODEL_H / 2

    def scene(k):
        z = zs[k]
        d = np.array([[z, 0, (1 - z) * cx + tx[k]], [0, z, (1 - z) * cy + ty[k]], [0, 0, 1]])
        img, gt = _view(photo, (d @ m)[:2])
        return img, gt, lambda: augment.inpaint_person(img, gt, inpaint_rng)
    return scene


def _walk_scene(sources: Sources, photo: Photo, rng: np.random.Generator, aug: AugConfig,
                cc: ClipConfig, length: int):
    """A person on an empty scene, standing or walking in / across / out of the frame."""
    bg = _empty_scene(sources.photos, rng, aug)
    crop = photo.crop
    ph = rng.uniform(aug.composite_height_min, aug.composite_height_max) * MODEL_H
    pw = ph * crop[1].shape[1] / crop[1].shape[0]
    if pw > 0.9 * MODEL_W:
        ph *= 0.9 * MODEL_W / pw
        pw = 0.9 * MODEL_W
    y = MODEL_H + rng.uniform(0, 0.25) * ph if crop[2] else \
        MODEL_H - rng.uniform(0, 0.15) * MODEL_H
    flip = bool(rng.random() < 0.5)
    feather = rng.uniform(0.5, 1.5) if rng.random() < aug.p_feather else 0.0
    if rng.random() < cc.p_stand:
        x0 = rng.uniform(0.1, 0.9) * MODEL_W
        xs = x0 + _sway(rng, length, rng.uniform(0, 0.005) * MODEL_W, (20, 40))
    else:
        v = rng.uniform(0.01, aug.walk_speed) * MODEL_W * rng.choice([-1, 1])
        # start anywhere from fully outside (entering) to well inside
        start = rng.uniform(-pw / 2 - 0.5 * abs(v) * length, MODEL_W + pw / 2)
        xs = start + v * np.arange(length)
        if rng.random() < 0.5:           # mirror: leaving as often as entering
            xs = MODEL_W - xs

    def scene(k):
        img, gt = augment.paste_person(bg, crop, float(xs[k]), y, ph, flip, feather)
        return img, gt, lambda: bg
    return scene


def _davis_scene(clip: DavisClip, rng: np.random.Generator, aug: AugConfig, length: int):
    stride = int(rng.integers(1, 3))
    span = (length - 1) * stride + 1
    if span > len(clip.rgb):
        stride, span = 1, length
    t0 = int(rng.integers(0, len(clip.rgb) - span + 1))
    h0, w0 = clip.mask[0].shape
    m = augment.random_view(w0, h0, rng, aug)
    backwards = rng.random() < 0.3

    def scene(k):
        t = t0 + (span - 1 - k * stride if backwards else k * stride)
        img = augment.warp_view(clip.rgb[t], m).astype(np.float32) / 255
        gt = augment.warp_view(clip.mask[t], m).astype(np.float32) / 255
        return img, (gt >= 0.5).astype(np.float32), lambda: None
    return scene


def _kind(sources: Sources, rng: np.random.Generator, cc: ClipConfig) -> str:
    w = np.array([cc.w_still, cc.w_walk, cc.w_motion, cc.w_davis if sources.davis else 0.0])
    return KINDS[int(rng.choice(len(KINDS), p=w / w.sum()))]


def _exposure(rng: np.random.Generator, cc: ClipConfig, length: int) -> np.ndarray:
    t = rng.uniform(12, 40)
    wave = rng.uniform(0, cc.gain_wave) * np.sin(2 * np.pi * np.arange(length) / t
                                                   + rng.uniform(0, 6.3))
    return np.clip(1 + wave + rng.uniform(0, cc.gain_jitter) * rng.standard_normal(length),
                   0.7, 1.3)


def make_clip(sources: Sources, rng: np.random.Generator, aug: AugConfig, cc: ClipConfig,
              length: int) -> dict:
    """One clip: image, clean (K x H x W x 3 float32), gt (K x H x W), prior_alpha (the
    previous alpha frame 0 starts from, before prior_transform), kind, mode, event."""
    photos = sources.photos
    photo = photos[int(rng.integers(len(photos)))]
    kind = _kind(sources, rng, cc)
    if kind == "walk" and photo.crop is None:
        kind = "still"
    if kind == "still":
        scene = _still_scene(photo, rng, aug, cc, length)
    elif kind == "walk":
        scene = _walk_scene(sources, photo, rng, aug, cc, length)
    elif kind == "motion":
        scene = _photo_scene(photo, rng, aug)
    else:
        scene = _davis_scene(sources.davis[int(rng.integers(len(sources.davis)))], rng, aug,
                             length)
    frames = [scene(k) for k in range(length)]
    imgs = [f[0] for f in frames]
    gts = [f[1] for f in frames]

    # events the scene itself does not make: the person cut away (exit) or in (entry), the
    # empty room after someone left (the person inpainted or pasted away)
    event = "none"
    cut_ok = kind != "davis" and length > 1
    u = rng.random()
    if cut_ok and u < aug.p_empty:
        event, empty_at = "empty", range(length)
    elif cut_ok and (kind != "walk" or rng.random() < cc.p_cut) and \
            u < aug.p_empty + aug.p_exit + aug.p_entry:
        cut = int(rng.integers(1, length))
        event, empty_at = ("exit", range(cut, length)) if u < aug.p_empty + aug.p_exit \
            else ("entry", range(0, cut))
    else:
        empty_at = range(0)
    for k in empty_at:
        imgs[k] = frames[k][2]()
        gts[k] = np.zeros_like(gts[k])

    had = frames[0][1]
    if event == "empty":
        if had.max() > 0.5 and rng.random() < aug.p_stale:
            mode, prior = "stale", augment.jittered_prior(had, rng, aug)
        else:
            mode, prior = "blank", np.zeros_like(had)
    elif gts[0].max() < 0.5:
        mode, prior = "blank", np.zeros_like(had)
    else:
        mode, prior = initial_prior(gts[0], photos, rng, aug)

    light = int(rng.integers(2 ** 31))
    gain = _exposure(rng, cc, length)
    sigma = rng.uniform(0, cc.noise_sigma)
    out = []
    for k in range(length):
        x = augment.photometric(imgs[k], gts[k], np.random.default_rng(light), aug) * gain[k]
        if sigma > 0:
            x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)
        out.append(np.clip(x, 0, 1).astype(np.float32))
    return {"image": out, "clean": imgs, "gt": gts, "prior_alpha": prior, "kind": kind,
            "mode": mode, "event": event}


# ----------------------------------------------------------------------------------------------
# the skill's way into the network
class CameraPath:
    """float RGB picture at model size -> the network's input as the skill makes it: uint8,
    NV21 (hilens.nv21, the camera's format), the AIPP of aipp.cfg (hilens.aipp)."""

    def __init__(self, aipp_cfg: pathlib.Path = None):
        from hilens import aipp
        cfg = aipp.load_aipp_file(str(aipp_cfg or paths.REPO / "aipp.cfg"))[0]
        self.op = aipp.AippOp(cfg, (1, 3, MODEL_H, MODEL_W))

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        from hilens import nv21
        u8 = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        return self.op.apply(nv21.from_rgb(u8, bgr=False, nv21=True))[0]
