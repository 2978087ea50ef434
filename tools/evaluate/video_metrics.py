"""Per-frame records of a matte sequence and what the evaluation reads from them: per-phase
IoU and temporal error, single-frame dropouts, frames to appear and to clear, flicker where
the picture did not change, per-person recall, entries and exits against a reference.

numpy and OpenCV only. A matte is the skill's uint8 alpha at frame size (person where
alpha >= 128, i.e. >= 0.5); the ground truth is uint8 person labels (0 background, k person
k) or None.

Definitions:
- IoU: foreground IoU of alpha >= 0.5 against all persons of the GT, on frames whose GT
  covers at least MIN_PERSON_AREA of the frame (nan otherwise: the first sliver of a person
  coming in scores 0 or 1 by chance).
- temporal error of frame t >= 1: mean over pixels of |(a_t - a_{t-1}) - (g_t - g_{t-1})|,
  alpha in [0, 1]; charges flicker and lag, not a constant offset. Tables print it x 1e-3.
  A phase's temporal error is the mean over the frames t of that phase.
- area: the fraction of the frame with alpha >= 0.5.
- single-frame dropout at t: both neighbours have at least DROPOUT_MIN_AREA of the frame as
  person, and frame t has less than DROPOUT_COLLAPSE times the smaller of them, while the
  GT (when there is one) did not collapse the same way. The issue's example, 9.9% -> 1.1% ->
  8.7% of the frame, is one.
- static flicker: mean |a_t - a_{t-1}| over the pixels of all frame pairs where the picture
  did not change, |Y_t - Y_{t-1}| < STATIC_DY (levels of the frame's Y plane); pooled over
  pixels, x 1e-3 in tables.
- frames to appear: for each entry (an empty GT followed by a person), from the first frame
  whose GT covers at least MIN_PERSON_AREA of the frame to the first frame with IoU >= 0.5.
- frames to clear: for each exit (a person followed by an empty GT), from the first empty
  frame to the first with mean alpha < CLEAR_ALPHA. An event the sequence ends before is
  counted with the frames it had and listed as censored.
- per person (several people): each pixel belongs to its nearest person (a Voronoi split of
  the frame by the GT); person k's recall is |P & G_k| / |G_k|, its IoU |P & G_k| /
  |(P & cell_k) | G_k|; found when the recall is >= 0.5.
"""

import cv2
import numpy as np

from tools.evaluate import seg_metrics as sm

PHASES = ("standing", "moving", "entering", "leaving", "empty")
DROPOUT_MIN_AREA = 0.005
DROPOUT_COLLAPSE = 0.5
STATIC_DY = 3
MIN_PERSON_AREA = 0.005
CLEAR_ALPHA = 0.01
FOUND_RECALL = 0.5
PRESENT_AREA = 0.005
NAN = float("nan")


def _mean(values):
    v = [x for x in values if x == x]
    return float(np.mean(v)) if v else NAN


# -- one frame ------------------------------------------------------------------------------

class Tracker(object):
    """Turns one runner's mattes of one scene into per-frame records (dicts): t, phase, iou,
    area, gt_area, mean_alpha, step_err, static (sum, count) of |d alpha| where the picture
    did not change, ok, ms, and with `persons` the per-person (recall, iou); with `photo`
    also mIoU, boundary F and MAE."""

    def __init__(self, persons=False, photo=False):
        self.persons = persons
        self.photo = photo
        self.prev = None          # (alpha, gt, y) of the previous frame
        self.records = []

    def add(self, alpha, gt, y, phase="", ok=True, ms=NAN):
        a = np.asarray(alpha)
        if a.dtype != np.uint8:
            raise ValueError("mattes are uint8, got %s" % a.dtype)
        pred = a >= 128
        rec = {"t": len(self.records), "phase": phase, "ok": bool(ok), "ms": float(ms),
               "area": float(np.count_nonzero(pred)) / pred.size,
               "mean_alpha": float(cv2.mean(a)[0]) / 255.0}
        person = None if gt is None else gt > 0
        rec["gt_area"] = NAN if gt is None else float(np.count_nonzero(person)) / person.size
        rec["iou"] = sm.iou(pred, person) if rec["gt_area"] >= MIN_PERSON_AREA else NAN
        if self.photo and gt is not None:
            rec.update(sm.score_image(a.astype(np.float32) / 255.0, person))
        if self.persons and gt is not None:
            rec["persons"] = per_person(pred, gt)
        rec["step_err"] = NAN
        rec["static"] = (0.0, 0)
        if self.prev is not None:
            pa, pg, py = self.prev
            if pa.shape == a.shape:
                if gt is not None and pg is not None:
                    rec["step_err"] = step_error(pa, a, pg, gt)
                if y is not None and py is not None:
                    rec["static"] = static_change(pa, a, py, y)
        self.prev = (a.copy(), None if gt is None else person,
                     None if y is None else np.array(y, copy=True))
        self.records.append(rec)
        return rec


def step_error(a_prev, a, g_prev, g):
    """Mean |(a - a_prev)/255 - (g - g_prev)| of uint8 mattes and boolean (or label) GTs."""
    da = a.astype(np.int16) - a_prev.astype(np.int16)
    dg = (np.asarray(g, bool).astype(np.int16) - np.asarray(g_prev, bool).astype(np.int16)) * 255
    return float(np.abs(da - dg).mean()) / 255.0


def static_change(a_prev, a, y_prev, y):
    """(sum of |d alpha| in [0, 1], pixel count) over pixels with |dY| < STATIC_DY."""
    still = cv2.absdiff(y, y_prev) < STATIC_DY
    n = int(np.count_nonzero(still))
    if not n:
        return 0.0, 0
    return float(cv2.absdiff(a, a_prev)[still].sum()) / 255.0, n


def per_person(pred, labels):
    """[(recall, iou)] per person label 1..K of `labels` (see the module docstring)."""
    ks = [k for k in range(1, int(labels.max()) + 1) if (labels == k).any()]
    if not ks:
        return []
    dist = np.stack([cv2.distanceTransform((labels != k).astype(np.uint8), cv2.DIST_L2, 3)
                     for k in ks])
    cell = np.argmin(dist, axis=0)
    out = []
    for i, k in enumerate(ks):
        g = labels == k
        hit = np.count_nonzero(pred & g)
        union = np.count_nonzero((pred & (cell == i)) | g)
        out.append((hit / float(np.count_nonzero(g)), hit / float(union)))
    return out


# -- a sequence -----------------------------------------------------------------------------

def dropouts(areas, gt_areas=None, min_area=DROPOUT_MIN_AREA, collapse=DROPOUT_COLLAPSE):
    """Frame indices of single-frame dropouts in an area series (see the module docstring)."""
    a = np.asarray(areas, np.float64)
    g = None if gt_areas is None else np.asarray(gt_areas, np.float64)
    out = []
    for t in range(1, len(a) - 1):
        near = min(a[t - 1], a[t + 1])
        if near < min_area or a[t] >= collapse * near:
            continue
        if g is not None and g[t] == g[t] and g[t] < collapse * min(g[t - 1], g[t + 1]):
            continue  # the person really went (the GT collapsed too)
        out.append(t)
    return out


def appear_clear(records):
    """([frames to appear], [frames to clear], censored count) of one sequence."""
    gt = [r["gt_area"] for r in records]
    person = [x == x and x > 0 for x in gt]
    appear, clear, censored = [], [], 0
    n = len(records)
    for t in range(1, n):
        if person[t] and not person[t - 1]:
            t0 = next((s for s in range(t, n) if person[s] and gt[s] >= MIN_PERSON_AREA), None)
            if t0 is None:
                continue
            end = next((s for s in range(t0, n) if not person[s]), n)
            hit = next((s for s in range(t0, end) if records[s]["iou"] >= 0.5), None)
            if hit is None:
                censored += 1
                appear.append(end - t0)
            else:
                appear.append(hit - t0)
        if not person[t] and person[t - 1] and gt[t] == gt[t]:
            end = next((s for s in range(t, n) if person[s]), n)
            hit = next((s for s in range(t, end) if records[s]["mean_alpha"] < CLEAR_ALPHA),
                       None)
            if hit is None:
                censored += 1
                clear.append(end - t)
            else:
                clear.append(hit - t)
    return appear, clear, censored


def by_phase(runs):
    """{phase: {n, iou, tempo_err, dropouts}} over [(records, dropout frames)] of scenes;
    tempo_err x 1e-3; empty-phase rows also hold mean_alpha."""
    out = {}
    for phase in PHASES:
        recs = [(r, t in drops) for records, drops in runs for t, r in enumerate(records)
                if r["phase"] == phase]
        if not recs:
            continue
        row = {"n": len(recs),
               "iou": _mean([r["iou"] for r, _ in recs]),
               "tempo_err": _mean([r["step_err"] for r, _ in recs]) * 1e3,
               "dropouts": sum(1 for _, d in recs if d)}
        if phase == "empty":
            row["mean_alpha"] = _mean([r["mean_alpha"] for r, _ in recs])
        out[phase] = row
    return out


def static_flicker(records):
    """Pooled mean |d alpha| where |dY| < STATIC_DY, x 1e-3 (nan without such pixels)."""
    s = sum(r["static"][0] for r in records)
    n = sum(r["static"][1] for r in records)
    return s / n * 1e3 if n else NAN


def person_stats(records):
    """Person recall, person IoU, found (fraction of person-frames) and all found (fraction
    of frames where every person is found)."""
    recalls, ious, found, all_found = [], [], [], []
    for r in records:
        ps = r.get("persons") or []
        if not ps:
            continue
        hits = [rc >= FOUND_RECALL for rc, _ in ps]
        recalls += [rc for rc, _ in ps]
        ious += [io for _, io in ps]
        found += hits
        all_found.append(all(hits))
    return {"person_recall": _mean(recalls), "person_iou": _mean(ious),
            "found": _mean(found), "all_found": _mean(all_found)}


# -- real clips: presence against a reference -----------------------------------------------

def presence_runs(present, gap=2, min_len=3):
    """[(start, end)] runs of presence (end exclusive), gaps of up to `gap` frames closed and
    runs shorter than `min_len` dropped: a dropout is not an exit."""
    runs = runs_of(present)
    merged = []
    for s, e in runs:
        if merged and s - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(s, e) for s, e in merged if e - s >= min_len]


def runs_of(mask):
    """[(start, end)] of the True runs of a boolean sequence (end exclusive)."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return [(int(s), int(e)) for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))]


def match_events(reference, runs, window=30):
    """Entries and exits of `runs` against those of `reference` (both presence_runs):
    {'entry_late': [frames the run starts after the reference's], 'exit_early': [frames it
    ends before], 'missed': entries with no run starting within `window` frames}."""
    late, early, missed = [], [], 0
    starts = [s for s, _ in runs]
    ends = [e for _, e in runs]
    for s, e in reference:
        near = [x for x in starts if abs(x - s) <= window]
        if not near:
            missed += 1
            continue
        late.append(min(near, key=lambda x: abs(x - s)) - s)
        near_e = [x for x in ends if abs(x - e) <= window]
        if near_e:
            early.append(e - min(near_e, key=lambda x: abs(x - e)))
    return {"entry_late": late, "exit_early": early, "missed": missed}


class EmptyRoom(object):
    """Which frames of a static-camera clip show the room as empty as its first frame:
    feed every frame's Y plane to add(), then empty(). At 256x144, after a Gaussian blur
    (sigma 2), a frame is quiet when fewer than `fraction` of its pixels differ from the
    first frame by more than `level`; the `margin` frames on each side of a frame that is
    not quiet do not count as empty (a foot or shoulder may still be in view)."""

    def __init__(self, level=30, fraction=0.002, margin=3, size=(256, 144)):
        self.level, self.fraction, self.margin, self.size = level, fraction, margin, size
        self.ref = None
        self.quiet = []

    def _small(self, y):
        return cv2.GaussianBlur(cv2.resize(y, self.size, interpolation=cv2.INTER_AREA)
                                .astype(np.float32), (0, 0), 2.0)

    def add(self, y):
        small = self._small(y)
        if self.ref is None:
            self.ref = small
        self.quiet.append(bool((np.abs(small - self.ref) > self.level).mean() < self.fraction))

    def empty(self):
        quiet = np.array(self.quiet, bool)
        k = 2 * self.margin + 1
        padded = np.pad(quiet, self.margin, constant_values=True)
        return np.lib.stride_tricks.sliding_window_view(padded, k).all(axis=1)
