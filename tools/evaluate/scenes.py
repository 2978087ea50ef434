"""The scenes the skill is judged on: frames as a camera would deliver them, each with its
ground truth (person labels) and its phase. tools/evaluate/skill_eval.py runs them through the
skill.

A `Scene` yields `Frame`s: the picture (BGR, or NV21 when it comes from hilens.VideoCapture),
the ground truth as uint8 labels (0 background, k = person k; None where a clip has no masks)
and the phase of the frame: standing, moving, entering (partly in view, coming in), leaving
(partly in view, going out), empty (no person in the GT), or '' where unknown. Every
synthetic scene is a pure function of its people, its plate and its seed: the held-out check
regenerates the same scenes on other people by calling the same functions (or `build` on
another data folder, MATTING_SHARED_DATA).

Scene kinds (sizes are the defaults of `build`; `--quick` takes a few of each):
- davis: the DAVIS 2016 clips in the shared data, every frame, its manual mask (854x480).
- far: a walk (below) with small people: hsd busts at 0.25 of the frame height (anchored at
  the bottom edge where the photo cuts them) and ccp full bodies at 0.45, on empty-room plates.
- closeup: one hsd photo per scene, one frame, as it is (cropped to even sides).
- multi: two or three people (ccp bodies at 0.45-0.6 or hsd busts at 0.5-0.7 of the height),
  side by side on a plate, standing for 10 frames; each from a photo of one person (hsd's
  group photos and its mannequin are left out: people.GROUP_PHOTOS, NOT_PEOPLE).
- still: a noisy still portrait: an hsd photo cropped to 16:9 around the person, with slow
  camera drift (zoom 1.01-1.06 and a translation inside it), exposure flicker and sensor noise.
- walk: an empty plate, a person walks in from one side, walks to a spot, stands, walks out
  to one side, the room stays empty (hsd people at 0.55-0.9 of the height, ccp at 0.7-0.95).
- clips: the real videos of the shared data through hilens.VideoCapture (NV21), no masks.
Photometric effects of the synthetic sequences: a slow exposure wave (6%) plus per-frame gain
jitter (3%) and Gaussian sensor noise (sigma 3 levels; one noise field per scene read at a
random offset per frame). Walks and groups have a static camera, as a kiosk does.

Plates: frames of one-by-one-person-detection.mp4 that show the room empty (0, 30, 470, 485,
895, 915; checked by eye and by their difference to the other frames of their empty stretch),
mirrored at random per scene.

People come from tools/evaluate/people.py's split (`split`: val by default, so the scenes
never show a person the training tools use).
"""
import dataclasses
import os
from typing import Callable, Optional

import cv2
import numpy as np

from tools import paths
from tools.evaluate import people as pp
from tools.evaluate.seg_metrics import list_pairs, read_pair

FRAME_SIZE = (640, 360)
PHASES = ("standing", "moving", "entering", "leaving", "empty")
PLATE_VIDEO = "one-by-one-person-detection.mp4"
PLATE_FRAMES = (0, 30, 470, 485, 895, 915)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".gif", ".264")
NOISE_PAD = 64
SUITES = ("davis", "far", "closeup", "multi", "still", "walk", "clips")
# scenes per suite (full, quick); a quick clip or DAVIS scene keeps its first QUICK_FRAMES
COUNTS = {"far": (16, 2), "closeup": (None, 6), "multi": (12, 2), "still": (12, 2),
          "walk": (12, 2)}
QUICK_FRAMES = 16
STILL_FRAMES = (40, 12)
GROUP_FRAMES = 10
# Clips whose camera is static and whose frame `reference` shows the room empty (checked by
# eye): skill_eval finds their empty frames by comparing each frame with that one.
EMPTY_REFERENCE = {PLATE_VIDEO: 0}


@dataclasses.dataclass
class Frame:
    t: int
    image: np.ndarray               # BGR (H, W, 3) or NV21 (H*3/2, W) uint8
    gt: Optional[np.ndarray]        # uint8 (H, W) person labels, None: no ground truth
    phase: str = ""


@dataclasses.dataclass
class Scene:
    suite: str
    name: str
    seed: Optional[int]             # None: real data
    split: str                      # the people's split ('' for real data)
    n_frames: Optional[int]         # None: until the source ends
    render: Callable                # render(t) -> Frame, or frames() for a source
    people: int = 1
    source: bool = False            # True: `render()` is an iterator over the frames

    def __iter__(self):
        if self.source:
            return iter(self.render())
        return (self.render(t) for t in range(self.n_frames))


# -- pictures and effects -------------------------------------------------------------------

def even(image):
    """The image cropped to even width and height (NV21 needs both)."""
    h, w = image.shape[:2]
    return image[:h - h % 2, :w - w % 2]


class Sensor(object):
    """Per-frame exposure (slow wave + jitter) and sensor noise, drawn once from `rng`."""

    def __init__(self, rng, n, size, gain_wave=0.06, gain_jitter=0.03, noise_sigma=3.0):
        w, h = size
        k = np.arange(n)
        gain = 1 + gain_wave * np.sin(2 * np.pi * k / 25.0 + rng.uniform(0, 2 * np.pi))
        self.gain = np.clip(gain + gain_jitter * rng.standard_normal(n), 0.7, 1.3)
        self.noise = (rng.standard_normal((h + NOISE_PAD, w + NOISE_PAD, 3), np.float32)
                      * np.float32(noise_sigma))
        self.offsets = rng.integers(0, NOISE_PAD, (n, 2))
        self.size = size

    def __call__(self, t, canvas):
        w, h = self.size
        img = canvas.astype(np.float32)
        img *= np.float32(self.gain[t])
        dy, dx = self.offsets[t]
        img += self.noise[dy:dy + h, dx:dx + w]
        img += np.float32(0.5)
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)


class Drift(object):
    """Slow camera drift: zoom in `zoom` and a translation that keeps the border out."""

    def __init__(self, rng, n, size, zoom=(1.01, 1.06)):
        w, h = size
        k = np.arange(n)
        pz, px, py = rng.uniform(0, 2 * np.pi, 3)
        z = zoom[0] + (zoom[1] - zoom[0]) * 0.5 * (1 + np.sin(2 * np.pi * k / (2.0 * n) + pz))
        tx = 0.9 * (z - 1) * w / 2 * np.sin(2 * np.pi * k / (1.5 * n) + px)
        ty = 0.9 * (z - 1) * h / 2 * np.sin(2 * np.pi * k / (1.7 * n) + py)
        self.camera = np.stack([z, tx, ty], 1)
        self.size = size

    def __call__(self, t, canvas, labels):
        w, h = self.size
        z, tx, ty = self.camera[t]
        m = np.array([[z, 0, (1 - z) * w / 2.0 + tx], [0, z, (1 - z) * h / 2.0 + ty]])
        canvas = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
        labels = cv2.warpAffine(labels, m, (w, h), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT)
        return canvas, labels


def load_plates(video=None, frames=PLATE_FRAMES):
    """The empty-room frames of `video` (default: the shared one-by-one clip), BGR."""
    video = str(video or paths.video(PLATE_VIDEO))
    if not os.path.isfile(video):
        raise FileNotFoundError("plate video not found: %s%s" % (video, paths.data_hint(video)))
    cap = cv2.VideoCapture(video)
    wanted = sorted(set(int(i) for i in frames))
    plates, i = {}, 0
    while i <= wanted[-1]:
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            plates[i] = frame
        i += 1
    cap.release()
    missing = [f for f in wanted if f not in plates]
    if missing:
        raise ValueError("plate video %s has no frames %s" % (video, missing))
    return [plates[i] for i in wanted]


def _plate(plate, size, rng):
    p = cv2.resize(plate, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(p[:, ::-1]) if rng.random() < 0.5 else p


def scale_person(person, height_px, max_width_px):
    """The person's crop and mask scaled to `height_px` tall (narrower if wider than allowed)."""
    ch, cw = person.mask.shape
    s = min(height_px / float(ch), max_width_px / float(cw))
    pw, ph = max(2, int(round(cw * s))), max(2, int(round(ch * s)))
    image = cv2.resize(person.image, (pw, ph), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(person.mask.astype(np.float32), (pw, ph),
                      interpolation=cv2.INTER_LINEAR) >= 0.5
    return image, mask


def paste(canvas, labels, image, mask, x0, y0, label):
    """Pastes a person (binary mask) with its top-left at (x0, y0), clipped to the canvas."""
    h, w = labels.shape
    ph, pw = mask.shape
    cx0, cx1 = max(0, x0), min(w, x0 + pw)
    cy0, cy1 = max(0, y0), min(h, y0 + ph)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    m = mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    canvas[cy0:cy1, cx0:cx1][m] = image[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0][m]
    labels[cy0:cy1, cx0:cx1][m] = label


def _feet_y(person, ph, h, rng, floor=(0.8, 1.0)):
    """Top row of a pasted person: a bust (cut by its photo) sits on the bottom edge, a full
    body stands on the floor somewhere in the lower part of the frame."""
    if person.touches_bottom:
        return h - ph
    return int(round(min(h, rng.uniform(*floor) * h) - ph))


# -- the scene kinds ------------------------------------------------------------------------

def walk_plan(rng, w, pw, speed=(0.012, 0.025), empty_before=5, stand=16, empty_after=8):
    """x centre per frame and the person's motion phase: an empty room, a walk in from one
    side to a spot, standing there (swaying), a walk out to one side, an empty room."""
    v = rng.uniform(*speed) * w
    off = pw / 2.0 + 2
    start = -off if rng.random() < 0.5 else w + off
    end = -off if rng.random() < 0.5 else w + off
    rest = rng.uniform(0.3, 0.7) * w
    xs = [None] * empty_before
    walking_in = list(np.arange(start, rest, v if rest > start else -v))
    xs += walking_in
    phase_sway = rng.uniform(0, 2 * np.pi)
    xs += [rest + 0.01 * w * np.sin(2 * np.pi * k / 30.0 + phase_sway) for k in range(stand)]
    walking_out = list(np.arange(rest, end, v if end > rest else -v))[1:]
    xs += walking_out + [None] * empty_after
    n_in, n_out = len(walking_in), len(walking_out)
    motion = ([""] * empty_before + ["in"] * n_in + ["stand"] * stand + ["out"] * n_out
              + [""] * empty_after)
    return xs, motion


def phase_of(motion, gt, pasted_fully_inside):
    if not gt.any():
        return "empty"
    if motion == "stand":
        return "standing"
    if pasted_fully_inside:
        return "moving"
    return "entering" if motion == "in" else "leaving"


# walk_plan's pace and phase lengths for --quick: the same story in about a third of the frames
QUICK_WALK = dict(speed=(0.04, 0.06), empty_before=3, stand=6, empty_after=4)


def walk_scene(person, plate, seed, size=FRAME_SIZE, height=(0.55, 0.9), suite="walk",
               split="val", name=None, plan=None):
    """A person walks into an empty room, stands, walks out (see walk_plan; `plan` overrides
    its pace and phase lengths)."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = _plate(plate, size, rng)
    image, mask = scale_person(person, rng.uniform(*height) * h, 0.6 * w)
    ph, pw = mask.shape
    y0 = _feet_y(person, ph, h, rng)
    xs, motion = walk_plan(rng, w, pw, **(plan or {}))
    n = len(xs)
    sensor = Sensor(rng, n, size)

    def render(t):
        canvas = bg.copy()
        labels = np.zeros((h, w), np.uint8)
        inside = False
        if xs[t] is not None:
            x0 = int(round(xs[t] - pw / 2.0))
            paste(canvas, labels, image, mask, x0, y0, 1)
            inside = x0 >= 0 and x0 + pw <= w
        return Frame(t, sensor(t, canvas), labels, phase_of(motion[t], labels, inside))
    return Scene(suite, name or person.name, seed, split, n, render)


def group_scene(group, plate, seed, size=FRAME_SIZE, n_frames=GROUP_FRAMES, split="val",
                name=None):
    """Two or three people side by side, standing (static camera, photometric effects)."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = _plate(plate, size, rng)
    slot = w / float(len(group))
    canvas0 = bg.copy()
    labels = np.zeros((h, w), np.uint8)
    for k, person in enumerate(group):
        height = (0.5, 0.7) if person.touches_bottom else (0.45, 0.6)
        image, mask = scale_person(person, rng.uniform(*height) * h, 0.9 * slot)
        ph, pw = mask.shape
        cx = (k + 0.5) * slot + rng.uniform(-0.5, 0.5) * (slot - pw) * 0.8
        paste(canvas0, labels, image, mask, int(round(cx - pw / 2.0)), _feet_y(person, ph, h, rng),
              k + 1)
    sensor = Sensor(rng, n_frames, size)

    def render(t):
        return Frame(t, sensor(t, canvas0), labels.copy(), "standing" if labels.any() else "empty")
    return Scene("multi", name or "+".join(p.name for p in group), seed, split, n_frames, render,
                 people=len(group))


def portrait_view(image, mask, size):
    """The photo cropped to the frame's aspect around the person (the head kept in), scaled
    to `size`; None when too little (or too much) of the frame would be person."""
    w, h = size
    ih, iw = mask.shape
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    if iw / float(ih) > w / float(h):
        cw, ch = int(round(ih * w / float(h))), ih
        x0 = int(np.clip(xs.mean() - cw / 2.0, 0, iw - cw))
        y0 = 0
    else:
        cw, ch = iw, int(round(iw * h / float(w)))
        x0 = 0
        y0 = int(np.clip(ys.min() - 0.1 * ch, 0, ih - ch))
    crop = cv2.resize(image[y0:y0 + ch, x0:x0 + cw], size, interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask[y0:y0 + ch, x0:x0 + cw].astype(np.uint8), size,
                   interpolation=cv2.INTER_NEAREST)
    if not 0.03 <= m.mean() <= 0.9:
        return None
    return crop, m


def still_scene(image, mask, seed, size=FRAME_SIZE, n_frames=STILL_FRAMES[0], split="val",
                name="still"):
    """A still portrait with camera drift, exposure flicker and sensor noise (see
    portrait_view); ValueError when the photo makes no such view."""
    view = portrait_view(image, mask, size)
    if view is None:
        raise ValueError("%s: no 16:9 view with 3-90%% person" % name)
    crop, labels = view
    rng = np.random.default_rng(seed)
    drift = Drift(rng, n_frames, size)
    sensor = Sensor(rng, n_frames, size)

    def render(t):
        canvas, gt = drift(t, crop, labels)
        return Frame(t, sensor(t, canvas), gt, "standing")
    return Scene("still", name, seed, split, n_frames, render)


def photo_scene(stem, image_path, mask_path, split="val"):
    """One photo as it is, one frame (hsd close-ups)."""
    def render(t):
        image, mask = read_pair(image_path, mask_path)
        return Frame(0, np.ascontiguousarray(even(image)), even(mask).astype(np.uint8),
                     "standing" if mask.any() else "empty")
    return Scene("closeup", stem, None, split, 1, render)


def davis_scene(folder, max_frames=None):
    """One DAVIS clip: images/NNNNN.jpg with masks/NNNNN.png, in order."""
    pairs = list_pairs(str(folder / "images"), str(folder / "masks"))
    if max_frames:
        pairs = pairs[:max_frames]

    def render(t):
        image, mask = read_pair(pairs[t][1], pairs[t][2])
        gt = even(mask).astype(np.uint8)
        return Frame(t, np.ascontiguousarray(even(image)), gt, "moving" if gt.any() else "empty")
    return Scene("davis", folder.name, None, "", len(pairs), render)


def clip_scene(path, max_frames=None):
    """A real video through the simulator's camera (NV21 frames, as the skill reads them)."""
    def frames():
        import hilens
        cap = hilens.VideoCapture(str(path))
        try:
            t = 0
            while max_frames is None or t < max_frames:
                try:
                    frame = cap.read()
                except RuntimeError:  # the file's end, as HiLens Studio ends a test video
                    break
                yield Frame(t, frame, None, "")
                t += 1
        finally:
            cap.close()
    return Scene("clips", os.path.basename(str(path)), None, "", None, frames, source=True)


# -- the suites -----------------------------------------------------------------------------

SUITE_IDS = dict((s, i) for i, s in enumerate(SUITES))


def _rng(seed, suite, *more):
    return np.random.default_rng([int(seed), SUITE_IDS[suite]] + list(more))


def _scene_seed(seed, suite, i):
    return int(_rng(seed, suite, i, 7).integers(2 ** 31))


def build(suite, split="val", seed=0, quick=False, size=FRAME_SIZE, plates=None):
    """The scenes of one suite (see the module docstring for what each holds)."""
    if suite not in SUITES:
        raise ValueError("unknown suite %r, expected one of %s" % (suite, ", ".join(SUITES)))
    q = 1 if quick else 0
    if suite == "davis":
        root = paths.require(paths.davis(), "DAVIS folder")
        clips = sorted(p for p in root.iterdir() if (p / "images").is_dir())
        if not clips:
            raise FileNotFoundError("no DAVIS clips (CLIP/images, CLIP/masks) in %s" % root)
        return [davis_scene(c, QUICK_FRAMES if quick else None) for c in clips]
    if suite == "clips":
        root = paths.require(paths.videos(), "video folder")
        names = sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
        if not names:
            raise FileNotFoundError("no videos (%s) in %s" % (", ".join(VIDEO_EXTENSIONS), root))
        if quick:
            names = [p for p in names if p.name == PLATE_VIDEO] or names[:1]
        return [clip_scene(p, QUICK_FRAMES * 2 if quick else None) for p in names]
    rng = _rng(seed, suite)
    if suite == "closeup":
        pairs = pp.pairs_of("hsd", split)
        n = COUNTS[suite][q] or len(pairs)
        pick = sorted(rng.permutation(len(pairs))[:n]) if n < len(pairs) else range(len(pairs))
        return [photo_scene(*pairs[i], split=split) for i in pick]
    if suite == "still":
        pairs = pp.pairs_of("hsd", split)
        out = []
        for i in rng.permutation(len(pairs)):
            stem, ip, mp = pairs[i]
            image, mask = read_pair(ip, mp)
            if portrait_view(image, mask, size) is not None:
                k = len(out)
                out.append(still_scene(image, mask, _scene_seed(seed, suite, k), size,
                                       STILL_FRAMES[q], split, "hsd/" + stem))
            if len(out) == COUNTS[suite][q]:
                break
        if not out:
            raise ValueError("no hsd photo makes a still portrait view")
        return out
    plates = plates if plates is not None else load_plates()
    n = COUNTS[suite][q]
    if suite == "multi":
        # members are one person each (people.GROUP_PHOTOS): the suite counts people
        hsd = pp.load_people(pp.pairs_of("hsd", split, one_person=True), n * 3, rng, "hsd/")
        ccp = pp.load_people(pp.pairs_of("ccp", split, one_person=True), n * 3, rng, "ccp/")
        out = []
        for i in range(n):
            pool = ccp if i % 2 == 0 else hsd
            k = 2 + (i // 2) % 2
            out.append(group_scene(pool[3 * i:3 * i + k], plates[i % len(plates)],
                                   _scene_seed(seed, suite, i), size, GROUP_FRAMES, split))
        return out
    if suite == "far":
        half = max(1, n // 2)
        kinds = [("bust", "hsd", (0.25, 0.25)), ("body", "ccp", (0.45, 0.45))]
    else:
        half = max(1, n // 2)
        kinds = [("near", "hsd", (0.55, 0.9)), ("body", "ccp", (0.7, 0.95))]
    out = []
    for kind, collection, height in kinds:
        group = pp.load_people(pp.pairs_of(collection, split), half, rng, collection + "/")
        for person in group:
            i = len(out)
            out.append(walk_scene(person, plates[i % len(plates)], _scene_seed(seed, suite, i),
                                  size, height, suite, split, "%s %s" % (kind, person.name),
                                  QUICK_WALK if quick else None))
    return out


def kind_of(scene):
    """The first word of a walk scene's name (far: bust / body; walk: near / body)."""
    return scene.name.split(" ", 1)[0]
