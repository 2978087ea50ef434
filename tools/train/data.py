"""Training data: the fixed train/validation split of an hsd-like folder, the photos, and the
clips a step trains on (a pure function of seed and step).

A clip is --clip-len consecutive frames of one scene: a photo view drifting, or a person cut out
and pasted on an empty scene walking, possibly half out of frame; some clips see the person
leave or enter, some are the empty room after someone left. Frame 0's prior follows the
published augmentations (blank, jittered ground truth, a plausible wrong mask, on empty clips
the departed person's stale prior); the lighting is one per clip plus per-frame exposure
flicker and fresh noise (tools/train/augment.py draws every piece).
"""
from __future__ import annotations

import dataclasses
import os
import pathlib

import cv2
import numpy as np
import torch

from tools import paths
from tools.evaluate.people import split as split_ids  # noqa: F401  (the one split)
from tools.evaluate.seg_metrics import list_pairs, read_pair
from tools.train import augment
from tools.train.augment import MODEL_H, MODEL_W, AugConfig

DEFAULT_DATA = paths.hsd()
MODE_NAMES = ("jitter", "blank", "wrong", "stale")
EVENT_NAMES = ("none", "exit", "entry", "empty")
LOAD_MAX_SIDE = 640          # photos are kept at most this large (uint8) for cropping


def list_hsd(root: pathlib.Path) -> list:
    """Sorted (id, image_path, mask_path) of an hsd-like folder (images/*.jpg, masks/*.png)."""
    return list_pairs(str(root / "images"), str(root / "masks"))


@dataclasses.dataclass
class Photo:
    name: str
    rgb: np.ndarray         # H x W x 3 uint8
    mask: np.ndarray        # H x W uint8, 0 or 255
    plates: list            # person-free boxes for empty scenes
    crop: tuple             # augment.person_crop: the person's box, for composites (or None)


def load_photos(pairs: list, max_side: int = LOAD_MAX_SIDE) -> list:
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


def val_folder(val_pairs: list, root: pathlib.Path) -> tuple:
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


def aug_config(args) -> AugConfig:
    """The AugConfig of the parsed command line (one flag per field, see cli.parse_args)."""
    return AugConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(AugConfig)})
