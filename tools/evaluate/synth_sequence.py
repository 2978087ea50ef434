"""Synthetic video sequences with exact per-frame person masks, for temporal evaluation.

A person is cut out of a photo with its ground-truth mask and pasted (binary mask, so the GT is
exact) onto a person-free background plate. Each sequence of T frames follows one plan:

    rest  [0, exit_start)           person stands at its spot, swaying slightly
    exit  [exit_start, out_start)   person slides sideways out of the frame
    out   [out_start, entry_start)  no person (GT empty)
    entry [entry_start, rest_start) person slides back in (from either side)
    rest  [rest_start, T)           person at its spot again

and on every frame, applied to picture and GT alike: slow camera drift (zoom 1.01-1.07 and a
translation that never shows the plate's border, one slow period per sequence), exposure
flicker (a slow gain wave plus per-frame gain jitter) and Gaussian sensor noise (sigma 3 grey
levels; one noise field per sequence read at a random offset each frame). The GT is
warped with the picture (bilinear, then >= 0.5), so a pixel is person in the GT exactly when
it is mostly person in the frame. Everything is drawn from `seed`, so sequences are
reproducible and frame t can be rendered on its own.

Default plates: frames of ../shared/data/videos/one-by-one-person-detection.mp4 (Intel
sample-videos, CC BY 4.0) that show the room empty - 0, 30 (before the first person enters
at ~60), 470, 485 and 895, 915 (between visitors); checked by eye and by their mean absolute
difference to the other frames of the same empty stretch (~1.5 grey levels, codec noise; a
person adds 5-25). They are read in place and mirrored at random per sequence.

API: `make_sequences(pairs, plates, n, config, seed)` -> list of `Sequence`; iterate a
Sequence for (bgr uint8, gt bool) frames; `Sequence.events` holds the plan's frame indices.
"""
import os
from dataclasses import dataclass

import cv2
import numpy as np

from tools import paths
from tools.evaluate.seg_metrics import read_pair

DEFAULT_PLATE_VIDEO = str(paths.video('one-by-one-person-detection.mp4'))
DEFAULT_PLATE_FRAMES = (0, 30, 470, 485, 895, 915)
NOISE_PAD = 64


@dataclass
class SynthConfig:
    n_frames: int = 80
    size: tuple = (512, 288)           # (w, h) of the rendered frames
    rest_frac: float = 0.3             # first rest phase, fraction of T
    move_frac: float = 0.12            # each slide (exit, entry)
    out_frac: float = 0.2              # person-free phase
    person_height: tuple = (0.55, 0.9)  # person bbox height / frame height
    max_person_width: float = 0.6      # person bbox width / frame width, at most
    sway: float = 0.015                # horizontal sway at rest, fraction of frame width
    zoom: tuple = (1.01, 1.07)         # camera zoom range (>= 1 keeps the plate border out)
    gain_wave: float = 0.06            # slow exposure wave amplitude
    gain_jitter: float = 0.03          # per-frame exposure jitter (std)
    noise_sigma: float = 3.0           # sensor noise std in grey levels


# SynthConfig overrides that keep people, plates and motion but drop exposure flicker and sensor
# noise (the random draws still happen, so the sequences stay frame-for-frame the same).
PHOTOMETRIC_OFF = {'gain_wave': 0.0, 'gain_jitter': 0.0, 'noise_sigma': 0.0}


def plan(n_frames, config=SynthConfig()):
    """Phase boundaries of a T-frame sequence (see module docstring)."""
    t = int(n_frames)
    move = max(3, int(round(config.move_frac * t)))
    exit_start = max(4, int(round(config.rest_frac * t)))
    out_start = exit_start + move
    entry_start = out_start + max(3, int(round(config.out_frac * t)))
    rest_start = entry_start + move
    if rest_start + 4 > t:
        raise ValueError('a sequence needs at least %d frames for this plan, got %d'
                         % (rest_start + 4, t))
    return {'n_frames': t, 'exit_start': exit_start, 'out_start': out_start,
            'entry_start': entry_start, 'rest_start': rest_start}


def load_plates(video=DEFAULT_PLATE_VIDEO, frames=DEFAULT_PLATE_FRAMES):
    """BGR frames of `video` at the given indices (read in place, never copied)."""
    if not os.path.isfile(video):
        raise FileNotFoundError('plate video not found: %s%s' % (video, paths.data_hint(video)))
    cap = cv2.VideoCapture(video)
    wanted = sorted(set(int(i) for i in frames))
    plates = {}
    i = 0
    while wanted and i <= wanted[-1]:
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            plates[i] = frame
        i += 1
    cap.release()
    missing = [f for f in wanted if f not in plates]
    if missing:
        raise ValueError('plate video %s has no frames %s' % (video, missing))
    return [plates[i] for i in sorted(set(int(i) for i in frames))]


def person_cutout(image, mask):
    """The person's bounding box crop of image and mask, and whether it touches the bottom."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError('mask is empty: no person to cut out')
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    touches_bottom = y1 >= mask.shape[0] - 2
    return image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(), touches_bottom


def usable_person(mask, min_frac=0.05, max_frac=0.85):
    """Masks that make a sensible cut-out: a real person, not the whole picture."""
    frac = np.count_nonzero(mask) / float(mask.size)
    return min_frac <= frac <= max_frac


class Sequence(object):
    """One rendered-on-demand sequence; iterate for (bgr uint8 HxWx3, gt bool HxW)."""

    def __init__(self, image, mask, plate, config=SynthConfig(), seed=0, name='seq'):
        self.config = config
        self.name = name
        self.seed = seed
        self.events = plan(config.n_frames, config)
        rng = np.random.default_rng(seed)
        w, h = config.size
        self.size = (w, h)
        self.plate = cv2.resize(plate, (w, h), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            self.plate = self.plate[:, ::-1].copy()

        crop, cmask, bottom = person_cutout(image, mask)
        ch, cw = cmask.shape
        scale = min(rng.uniform(*config.person_height) * h / ch, config.max_person_width * w / cw)
        pw, ph = max(2, int(round(cw * scale))), max(2, int(round(ch * scale)))
        self.person = cv2.resize(crop, (pw, ph), interpolation=cv2.INTER_AREA)
        self.pmask = cv2.resize(cmask.astype(np.float32), (pw, ph),
                                interpolation=cv2.INTER_LINEAR) >= 0.5
        self.y0 = h - ph if bottom else int(round(h - ph - rng.uniform(0, 0.1) * h))
        self.rest_x = rng.uniform(0.3, 0.7) * w
        # Fully outside the plate (and so the zoomed view) with a small margin.
        off = pw / 2.0 + 0.02 * w + 2
        self.exit_x = -off if rng.random() < 0.5 else w + off
        self.entry_x = -off if rng.random() < 0.5 else w + off
        self.sway_phase = rng.uniform(0, 2 * np.pi)

        t = config.n_frames
        z0, z1 = config.zoom
        ph_z, ph_x, ph_y, ph_g = rng.uniform(0, 2 * np.pi, 4)
        k = np.arange(t)
        zoom = z0 + (z1 - z0) * 0.5 * (1 + np.sin(2 * np.pi * k / (2.0 * t) + ph_z))
        # |translation| <= 0.9 * (zoom - 1) * size / 2 keeps the sampled area inside the plate.
        tx = 0.9 * (zoom - 1) * w / 2 * np.sin(2 * np.pi * k / (1.5 * t) + ph_x)
        ty = 0.9 * (zoom - 1) * h / 2 * np.sin(2 * np.pi * k / (1.7 * t) + ph_y)
        self.camera = np.stack([zoom, tx, ty], 1)
        gain = 1 + config.gain_wave * np.sin(2 * np.pi * k / 25.0 + ph_g)
        gain += config.gain_jitter * rng.standard_normal(t)
        self.gain = np.clip(gain, 0.7, 1.3)
        # Sensor noise: one field per sequence, read at a random offset per frame (fresh
        # noise at every pixel from frame to frame, at a fraction of the cost of drawing it).
        self.noise = (rng.standard_normal((h + NOISE_PAD, w + NOISE_PAD, 3), np.float32)
                      * np.float32(config.noise_sigma))
        self.noise_offsets = rng.integers(0, NOISE_PAD, (t, 2))

    def __len__(self):
        return self.config.n_frames

    def person_x(self, t):
        """Horizontal centre of the person at frame t, or None while out of the frame."""
        e = self.events
        if t < e['exit_start'] or t >= e['rest_start']:
            return self._rest(t)
        if t < e['out_start']:
            start = self._rest(e['exit_start'] - 1)
            f = (t - e['exit_start'] + 1) / float(e['out_start'] - e['exit_start'])
            return start + (self.exit_x - start) * f
        if t < e['entry_start']:
            return None
        end = self._rest(e['rest_start'])
        f = (t - e['entry_start'] + 1) / float(e['rest_start'] - e['entry_start'])
        return self.entry_x + (end - self.entry_x) * f

    def _rest(self, t):
        return self.rest_x + self.config.sway * self.size[0] * np.sin(
            2 * np.pi * t / 30.0 + self.sway_phase)

    def scene(self, t):
        """Plate with the person pasted at frame t, before camera and sensor effects."""
        w, h = self.size
        canvas = self.plate.copy()
        gt = np.zeros((h, w), np.uint8)
        x = self.person_x(t)
        if x is None:
            return canvas, gt
        ph, pw = self.pmask.shape
        x0 = int(round(x - pw / 2.0))
        # Clip the pasted box to the canvas; a box fully outside pastes nothing.
        cx0, cx1 = max(0, x0), min(w, x0 + pw)
        cy0, cy1 = max(0, self.y0), min(h, self.y0 + ph)
        if cx1 <= cx0 or cy1 <= cy0:
            return canvas, gt
        sx0, sy0 = cx0 - x0, cy0 - self.y0
        m = self.pmask[sy0:sy0 + cy1 - cy0, sx0:sx0 + cx1 - cx0]
        region = canvas[cy0:cy1, cx0:cx1]
        region[m] = self.person[sy0:sy0 + cy1 - cy0, sx0:sx0 + cx1 - cx0][m]
        gt[cy0:cy1, cx0:cx1][m] = 255
        return canvas, gt

    def frame(self, t):
        """(bgr uint8, gt bool) of frame t."""
        if not 0 <= t < len(self):
            raise IndexError('frame %d outside a %d-frame sequence' % (t, len(self)))
        w, h = self.size
        canvas, gt = self.scene(t)
        z, tx, ty = self.camera[t]
        cx, cy = w / 2.0, h / 2.0
        m = np.array([[z, 0, (1 - z) * cx + tx], [0, z, (1 - z) * cy + ty]], np.float64)
        canvas = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
        gt = cv2.warpAffine(gt, m, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT) >= 128
        img = canvas.astype(np.float32)
        img *= np.float32(self.gain[t])
        dy, dx = self.noise_offsets[t]
        img += self.noise[dy:dy + h, dx:dx + w]
        img += np.float32(0.5)
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8), gt

    def __iter__(self):
        for t in range(len(self)):
            yield self.frame(t)


def make_sequences(pairs, plates, n=24, config=SynthConfig(), seed=0):
    """n sequences from (stem, image_path, mask_path) pairs and BGR plates, reproducibly.

    People are drawn without replacement (cycling when n exceeds the usable pairs) from the
    pairs whose mask covers 5-85 % of the photo; plates cycle.
    """
    if not plates:
        raise ValueError('no background plates given')
    if not pairs:
        raise ValueError('no image/mask pairs given')
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    seqs = []
    k = 0
    while len(seqs) < n:
        if k == len(order) and not seqs:
            raise ValueError('no usable person mask (5-85 %% of the photo) among %d pairs'
                             % len(pairs))
        stem, image_path, mask_path = pairs[order[k % len(order)]]
        k += 1
        image, mask = read_pair(image_path, mask_path)
        if not usable_person(mask):
            continue
        i = len(seqs)
        seqs.append(Sequence(image, mask, plates[i % len(plates)], config,
                             seed=int(seed) * 100003 + i, name='%s#%d' % (stem, i)))
    return seqs
