"""Training augmentations for the previous-alpha (feedback) matting model.

Two families, both written as pure numpy/OpenCV functions on one float32 sample at model size
(RGB HxWx3 in [0, 1], masks HxW in [0, 1]) and driven by an explicit `np.random.Generator`, so a
training run is reproducible from its seed:

* prior augmentations: what the network sees on its `prev_alpha` input. The HiLens MODNet write-up
  trained the feedback input with a blank prior (a person walking in), a shifted/deformed ground
  truth (learn to correct a slightly wrong prior) and wrong priors (learn to ignore it). We add
  "stale" priors on empty frames (a person who just left must vanish at once) and softening,
  because at run time the prior is the network's own soft output, not a binary mask.
* photometric augmentations: simulated point and line light sources, back-light, colour jitter and
  sensor noise, the lighting changes a kiosk camera sees and the per-frame network flickers on.

Every probability and range lives in `AugConfig`; tools/train/ turns each field into a CLI flag.
"""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

MODEL_W, MODEL_H = 256, 144


@dataclasses.dataclass
class AugConfig:
    # --- geometry of the training view (image and mask warped together) ---
    p_stretch: float = 0.5        # whole photo stretched to 256x144 (how the skill feeds frames)
    zoom_min: float = 0.7         # zoom relative to the base view (<1 zooms out, borders reflect)
    zoom_max: float = 1.35
    aspect_jitter: float = 0.2    # extra anisotropic stretch, +-fraction
    rot_deg: float = 8.0
    shift: float = 0.12           # translation, fraction of the model size
    p_flip: float = 0.5
    # --- composites: a person cut out with its mask and pasted on an empty scene, anywhere,
    #     also half out of the frame (people entering and leaving; rare in portrait photos) ---
    p_composite: float = 0.25
    composite_height_min: float = 0.35  # person height / frame height
    composite_height_max: float = 1.1
    p_feather: float = 0.5        # soften the paste edge (so hard cut edges are no cue)
    # --- clips: K consecutive frames of one scene; the network's own output on frame k is the
    #     prior of frame k + 1 (closed loop, as at run time), the published augmentations set
    #     the prior of frame 0 ---
    motion_shift: float = 0.03    # photo scenes: camera/person motion per frame, fraction of size
    walk_speed: float = 0.08      # pasted person: up to this fraction of the width per frame
    p_exit: float = 0.15          # the person leaves during the clip (frames after a cut empty)
    p_entry: float = 0.15         # the person enters during the clip (frames before a cut empty)
    p_empty: float = 0.08         # the whole clip is the room after the person left
    p_empty_plate: float = 0.5    # empty clip: a person-free crop (else: person inpainted away)
    p_stale: float = 0.75         # empty clip starts with the departed person's prior
    # --- prior of frame 0 (of clips that start with a person); the rest is "jittered GT" ---
    p_blank: float = 0.3          # no prior: a person walking in / first frame
    p_wrong: float = 0.1          # plausible but wrong mask: someone else's, far shift, heavy morph
    prior_shift: float = 0.04     # jittered-GT prior: translation, fraction of the model size
    prior_scale: float = 0.05
    prior_rot_deg: float = 4.0
    prior_morph_max: int = 7      # erosion/dilation kernel up to this many pixels
    prior_blur_max: float = 2.5   # softening (Gaussian sigma, pixels) like the network's own edges
    p_prior_blotch: float = 0.3   # a missing or extra blob in the prior (local errors to correct)
    flicker: float = 0.05         # per-frame exposure change within a clip (+-fraction)
    frame_noise_max: float = 0.02  # fresh per-frame sensor noise sigma upper bound
    # --- lighting and sensor ---
    p_point_light: float = 0.15
    p_line_light: float = 0.1
    p_backlight: float = 0.1
    p_color: float = 0.5
    p_noise: float = 0.5
    noise_max: float = 0.03       # Gaussian noise sigma upper bound (image in [0, 1])
    p_blur: float = 0.1           # slight defocus
    # --- hard frames: the picture alone is not enough, the (near-right) prior is needed ---
    p_degrade: float = 0.0        # per frame with a person (0.1-0.2 made the prior a crude,
                                  # harmful nudge in our runs, see model/MODEL.md)


# ----------------------------------------------------------------------------------------------
# geometry
def random_view(src_w: int, src_h: int, rng: np.random.Generator, cfg: AugConfig,
                out_w: int = MODEL_W, out_h: int = MODEL_H) -> np.ndarray:
    """A 2x3 affine from a src_w x src_h photo to the model's out_w x out_h view.

    Half the time the base view is the skill's own stretch of the whole frame; otherwise an
    aspect-preserving scale between "fit" and "fill", so portrait photos also give undistorted,
    partly cropped people. On top: zoom, rotation, anisotropy, shift and flip.
    """
    if rng.random() < cfg.p_stretch:
        sx, sy = out_w / src_w, out_h / src_h
    else:
        fit, fill = min(out_w / src_w, out_h / src_h), max(out_w / src_w, out_h / src_h)
        sx = sy = fit + (fill - fit) * rng.random()
    zoom = math.exp(rng.uniform(math.log(cfg.zoom_min), math.log(cfg.zoom_max)))
    aspect = 1.0 + rng.uniform(-cfg.aspect_jitter, cfg.aspect_jitter)
    sx, sy = sx * zoom * math.sqrt(aspect), sy * zoom / math.sqrt(aspect)
    if rng.random() < cfg.p_flip:
        sx = -sx
    th = math.radians(rng.uniform(-cfg.rot_deg, cfg.rot_deg))
    c, s = math.cos(th), math.sin(th)
    lin = np.array([[c, -s], [s, c]]) @ np.diag([sx, sy])
    centre_out = np.array([out_w / 2 + rng.uniform(-cfg.shift, cfg.shift) * out_w,
                           out_h / 2 + rng.uniform(-cfg.shift, cfg.shift) * out_h])
    t = centre_out - lin @ np.array([src_w / 2, src_h / 2])
    return np.hstack([lin, t[:, None]]).astype(np.float64)


def warp(arr: np.ndarray, m: np.ndarray, out_w: int = MODEL_W, out_h: int = MODEL_H,
         border: int = cv2.BORDER_REFLECT_101) -> np.ndarray:
    """Warp with the same reflecting border for image and mask, so padded areas stay labelled."""
    return cv2.warpAffine(arr, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=border)


def warp_view(arr: np.ndarray, m: np.ndarray, out_w: int = MODEL_W,
              out_h: int = MODEL_H) -> np.ndarray:
    """`warp` for a photo-to-view affine: rows beyond the top and bottom repeat the edge rows
    (a person cut by the bottom edge continues downwards) instead of reflecting upside-down
    copies of heads; left and right still reflect, which looks like more of the scene."""
    pad = arr.shape[0] // 2
    padded = cv2.copyMakeBorder(arr, pad, pad, 0, 0, cv2.BORDER_REPLICATE)
    m2 = m.copy()
    m2[:, 2] -= m[:, 1] * pad
    return warp(padded, m2, out_w, out_h)


def jitter_affine(rng: np.random.Generator, shift: float, scale: float, rot_deg: float,
                  w: int = MODEL_W, h: int = MODEL_H) -> np.ndarray:
    """A small random motion about the view centre (the person's displacement between frames)."""
    th = math.radians(rng.uniform(-rot_deg, rot_deg))
    k = 1.0 + rng.uniform(-scale, scale)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), math.degrees(th), k)
    m[:, 2] += [rng.uniform(-shift, shift) * w, rng.uniform(-shift, shift) * h]
    return m


# ----------------------------------------------------------------------------------------------
# prior
def _morph(mask: np.ndarray, k: int) -> np.ndarray:
    """k > 0 dilates, k < 0 erodes by |k| pixels."""
    if k == 0:
        return mask
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(k) + 1, 2 * abs(k) + 1))
    return cv2.dilate(mask, ker) if k > 0 else cv2.erode(mask, ker)


def _soften(mask: np.ndarray, rng: np.random.Generator, blur_max: float) -> np.ndarray:
    """Make a (binary) mask look like a network output: soft edges and not fully saturated."""
    sigma = rng.uniform(0.3, max(blur_max, 0.31))
    out = cv2.GaussianBlur(mask, (0, 0), sigma)
    gamma = math.exp(rng.uniform(-0.4, 0.4))       # under/over-confident edges
    return np.clip(out, 0.0, 1.0) ** gamma


def _blotch(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add or remove one elliptic blob: a limb missed or a chair picked up on the previous frame."""
    h, w = mask.shape
    out = mask.copy()
    centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
    axes = (int(rng.integers(4, w // 6)), int(rng.integers(4, h // 4)))
    cv2.ellipse(out, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                float(rng.random() < 0.5), -1)
    return out


def jittered_prior(gt: np.ndarray, rng: np.random.Generator, cfg: AugConfig) -> np.ndarray:
    """Ground truth moved a little, eroded/dilated, maybe blotched, softened: a near-right prior."""
    m = jitter_affine(rng, cfg.prior_shift, cfg.prior_scale, cfg.prior_rot_deg)
    out = cv2.warpAffine(gt, m, (gt.shape[1], gt.shape[0]), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    out = _morph(out, int(rng.integers(-cfg.prior_morph_max, cfg.prior_morph_max + 1)))
    if rng.random() < cfg.p_prior_blotch:
        out = _blotch(out, rng)
    return _soften(out, rng, cfg.prior_blur_max)


def wrong_prior(gt: np.ndarray, other: np.ndarray, rng: np.random.Generator,
                cfg: AugConfig) -> np.ndarray:
    """A plausible person mask that does not match the frame.

    `other` is another photo's mask already warped to model size (someone else, elsewhere).
    """
    h, w = gt.shape
    kind = rng.integers(0, 4)
    if kind == 0:
        out = other
    elif kind == 1:                                   # the person far from where they are now
        dx = rng.choice([-1, 1]) * rng.uniform(0.25, 0.6) * w
        m = np.float64([[1, 0, dx], [0, 1, rng.uniform(-0.1, 0.1) * h]])
        out = cv2.warpAffine(gt, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    elif kind == 2:                                   # grossly over-segmented
        out = _morph(gt, int(rng.integers(10, 25)))
    else:                                             # grossly under-segmented
        out = _morph(gt, -int(rng.integers(8, 20)))
    return _soften(out, rng, cfg.prior_blur_max)


# ----------------------------------------------------------------------------------------------
# empty scenes
def person_free_boxes(mask: np.ndarray, min_frac: float = 0.25) -> list:
    """Boxes (x0, y0, x1, y1) of full-height column bands / full-width row bands with no person.

    Cheap to compute and enough to cut background plates out of a portrait photo.
    """
    h, w = mask.shape
    cols = np.flatnonzero(mask.max(axis=0) > 0.5)
    rows = np.flatnonzero(mask.max(axis=1) > 0.5)
    if cols.size == 0:
        return [(0, 0, w, h)]
    boxes = []
    pad_w, pad_h = max(2, w // 50), max(2, h // 50)
    for x0, x1 in ((0, cols[0] - pad_w), (cols[-1] + 1 + pad_w, w)):
        if x1 - x0 >= min_frac * w:
            boxes.append((x0, 0, x1, h))
    for y0, y1 in ((0, rows[0] - pad_h), (rows[-1] + 1 + pad_h, h)):
        if y1 - y0 >= min_frac * h:
            boxes.append((0, y0, w, y1))
    return boxes


def plate_view(img: np.ndarray, box: tuple, rng: np.random.Generator,
               out_w: int = MODEL_W, out_h: int = MODEL_H) -> np.ndarray:
    """A random crop of a person-free box, stretched to the model view (an empty room)."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    cw = int(bw * rng.uniform(0.6, 1.0))
    ch = int(min(bh, max(8, cw * out_h / out_w * rng.uniform(0.6, 1.6))))
    cx = x0 + int(rng.integers(0, bw - cw + 1))
    cy = y0 + int(rng.integers(0, bh - ch + 1))
    crop = img[cy:cy + ch, cx:cx + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(np.ascontiguousarray(crop), (out_w, out_h), interpolation=cv2.INTER_AREA)


def inpaint_person(img: np.ndarray, gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Remove the person from a model-size view: the room they just left.

    Inpainting at quarter size and upsampling is fast and leaves a smooth patch; a little noise is
    added back so the patch is not the only texture-free area the network could key on.
    """
    h, w = gt.shape
    small = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    hole = cv2.resize(gt, (w // 4, h // 4), interpolation=cv2.INTER_AREA) > 0.02
    hole = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8))
    filled = cv2.inpaint((small * 255).astype(np.uint8), hole, 3, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    soft = cv2.GaussianBlur(cv2.dilate(gt, np.ones((5, 5), np.float32)), (0, 0), 2.0)[..., None]
    out = img * (1 - soft) + filled * soft
    out += soft * rng.normal(0, 0.02, out.shape).astype(np.float32)
    return np.clip(out, 0, 1)


def person_crop(rgb: np.ndarray, mask: np.ndarray) -> tuple:
    """The person's bounding box of a photo (rgb, mask uint8) and whether it touches the bottom
    (then it is pasted standing on the frame's bottom edge); None when the mask is empty."""
    ys, xs = np.nonzero(mask > 127)
    if len(ys) == 0:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1], bool(y1 >= mask.shape[0] - 2)


def paste_person(bg: np.ndarray, crop: tuple, x_centre: float, y_bottom: float, height: float,
                 flip: bool, feather: float) -> tuple:
    """Paste a person_crop on a model-size float background: (image, gt).

    The GT is the pasted (resized) mask itself, so it stays exact when the person is partly
    outside the frame; `feather` > 0 blurs only the blending weight, not the GT.
    """
    person, pmask = crop[0], crop[1]
    h, w = bg.shape[:2]
    ch, cw = pmask.shape
    scale = height / ch
    pw, ph = max(2, int(round(cw * scale))), max(2, int(round(ch * scale)))
    # place via an affine so subpixel positions and clipping at the frame edges come for free
    sx = -scale if flip else scale
    x0 = x_centre - pw / 2.0
    m = np.float64([[sx, 0, x0 + (pw if flip else 0)], [0, scale, y_bottom - ph]])
    p = cv2.warpAffine(person, m, (w, h), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE).astype(np.float32) / 255
    g = cv2.warpAffine(pmask, m, (w, h), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT).astype(np.float32) / 255
    g = (g >= 0.5).astype(np.float32)
    a = cv2.GaussianBlur(g, (0, 0), feather) if feather > 0 else g
    return bg * (1 - a[..., None]) + p * a[..., None], g


# ----------------------------------------------------------------------------------------------
# lighting and sensor
def _grid(h: int, w: int):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def _light_colour(rng: np.random.Generator) -> np.ndarray:
    return (1.0 - rng.uniform(0.0, 0.35, 3)).astype(np.float32)   # white to tinted


def point_light(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian blob: a lamp or a reflection in view."""
    h, w = img.shape[:2]
    xs, ys = _grid(h, w)
    cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
    sigma = rng.uniform(0.05, 0.4) * w
    blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma * sigma))
    return img + rng.uniform(0.2, 0.8) * blob[..., None] * _light_colour(rng)


def line_light(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Additive band along a random line: a fluorescent tube or a shaft of window light."""
    h, w = img.shape[:2]
    xs, ys = _grid(h, w)
    th = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    dist = np.abs((xs - cx) * math.sin(th) - (ys - cy) * math.cos(th))
    width = rng.uniform(0.01, 0.12) * w
    band = np.exp(-dist * dist / (2 * width * width))
    return img + rng.uniform(0.2, 0.7) * band[..., None] * _light_colour(rng)


def backlight(img: np.ndarray, gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bright window behind the subject: background pushed to white, subject darkened."""
    m = cv2.GaussianBlur(gt, (0, 0), rng.uniform(1.0, 4.0))[..., None]
    dark = rng.uniform(0.2, 0.6)
    bright = rng.uniform(0.2, 0.6)
    out = img * (1 - dark * m)
    return out + bright * (1 - m) * (1 - out)


def colour_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation, white balance (hue-ish) and gamma."""
    out = img * rng.uniform(0.65, 1.35) + rng.uniform(-0.08, 0.08)
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.6, 1.4) + mean
    grey = out.mean(axis=2, keepdims=True)
    out = grey + (out - grey) * rng.uniform(0.4, 1.5)
    out = out * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    return np.clip(out, 0, 1) ** math.exp(rng.uniform(-0.35, 0.35))


def photometric(img: np.ndarray, gt: np.ndarray, rng: np.random.Generator,
                cfg: AugConfig) -> np.ndarray:
    """All lighting and sensor augmentations, each with its own probability; result in [0, 1]."""
    out = img.astype(np.float32, copy=True)
    if rng.random() < cfg.p_backlight and gt.max() > 0.5:
        out = backlight(out, gt, rng)
    if rng.random() < cfg.p_point_light:
        out = point_light(out, rng)
    if rng.random() < cfg.p_line_light:
        out = line_light(out, rng)
    out = np.clip(out, 0, 1)
    if rng.random() < cfg.p_color:
        out = colour_jitter(out, rng)
    if rng.random() < cfg.p_blur:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < cfg.p_noise:
        out = out + rng.normal(0, rng.uniform(0.005, cfg.noise_max), out.shape).astype(np.float32)
    return np.clip(out, 0, 1).astype(np.float32)


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A frame the picture alone cannot segment well: heavy noise, heavy blur, near darkness or
    blocks of garbage. With a near-right prior beside it, the network learns to lean on the prior
    where the picture is unreliable, which is what steadies flicker at run time."""
    h, w = img.shape[:2]
    kind = int(rng.integers(0, 4))
    if kind == 0:
        out = img + rng.normal(0, rng.uniform(0.08, 0.2), img.shape).astype(np.float32)
    elif kind == 1:
        out = cv2.GaussianBlur(img, (0, 0), rng.uniform(2.0, 5.0))
    elif kind == 2:
        out = img * rng.uniform(0.1, 0.3) + rng.normal(0, 0.03, img.shape).astype(np.float32)
    else:
        out = img.copy()
        for _ in range(int(rng.integers(1, 4))):
            bw, bh = int(rng.integers(w // 8, w // 3)), int(rng.integers(h // 8, h // 2))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            out[y0:y0 + bh, x0:x0 + bw] = rng.random(3).astype(np.float32)
    return np.clip(out, 0, 1).astype(np.float32)
