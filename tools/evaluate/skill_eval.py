"""The skill judged on what it ships: scenes through the skill's own per-frame code.

    python -m tools.evaluate.skill_eval --suite davis,far,closeup,multi,still,walk,clips \\
        --config feedback=true --config feedback=false --json out/eval.json \\
        --markdown out/eval.md --sheets out/sheets

Every frame goes in as the camera delivers it, NV21 (a BGR picture through
hilens.cvt_color(..., hilens.BGR2YUV_NV21), a real clip through the simulator's
hilens.VideoCapture), into the pipeline that utils.pipeline.open_pipeline(load_config(...))
builds - the one main.py runs, with every stage and the prior exactly as the skill makes it
- opened fresh for each scene (as the skill starts), and is scored on FrameResult.alpha,
the frame-size matte the skill composites with. Nothing of the skill is re-implemented here.

Rows (one per configuration):
- `--config [LABEL:]key=value[,key=value...]` (repeatable): one configuration of the skill,
  any key of utils/config.py (the same keys as `python main.py --help`); an unknown key or an
  invalid value is an error naming it. `--set key=value` (repeatable) applies to every
  configuration. With no --config: one row, the skill as configured by default.
- the per-frame network (unless `--no-baseline`): MediaPipe's selfie network
  (model/selfie_landscape.onnx, checked against MediaPipe to 2e-4, see model/MODEL.md) on
  the same NV21 frames, resized by the same hilens.Preprocessor and converted by the same
  AIPP, no prior, no post-processing, its alpha scaled bilinearly to the frame. The issue-13
  targets are ratios against this row (the `x net` / `- net` columns).

Suites and scenes: tools/evaluate/scenes.py (seeds, sizes, the people's split); metrics:
tools/evaluate/video_metrics.py. Per suite a markdown table, in `--json` every number and
per-scene detail (dropout frames, per-frame person areas of the real clips), and with
`--sheets DIR` a PNG contact sheet per suite and row: the worst frames first (lowest IoU,
hazy empty frames, dropouts, flicker), input | matte (GT outline red) | composite (the
skill's own output frame).
"""
import argparse
import json
import os
import re
import sys
import time

import cv2
import numpy as np

from tools import paths
from tools.evaluate import scenes as sc
from tools.evaluate import sheets
from tools.evaluate import video_metrics as vm

BASELINE = "per-frame network"
BASELINE_MODEL = str(paths.REPO / "model" / "selfie_landscape.om")
NAN = float("nan")


# -- configurations -------------------------------------------------------------------------

def parse_assignment(text):
    """'key=value' -> (key, raw value), the key checked against the skill's config table and
    the value against the key (ValueError naming both otherwise)."""
    from utils.config import KEY_BY_NAME, KEYS
    if "=" not in text:
        raise ValueError("%r: expected key=value" % text)
    key, raw = (s.strip() for s in text.split("=", 1))
    if key not in KEY_BY_NAME:
        raise ValueError("%s: unknown config key %r (keys: %s)"
                         % (text, key, ", ".join(k.name for k in KEYS)))
    try:
        KEY_BY_NAME[key].parse(raw, str(paths.REPO))
    except ValueError as e:
        raise ValueError("%s: %s" % (text, e))
    return key, raw


def parse_config(spec):
    """'[LABEL:]k=v[,k=v...]' -> (label or None, [(key, raw)])."""
    label = None
    m = re.match(r"^([^=,]+):(.*)$", spec)
    if m:
        label, spec = m.group(1).strip(), m.group(2)
    items = [parse_assignment(s) for s in spec.split(",") if s.strip()]
    return label, items


def load_skill_config(items):
    """The skill's Config for [(key, raw)], as load_config makes it from a command line;
    ValueError when it would fall back to a default (it only logs such values)."""
    from utils import log
    from utils.config import KEY_BY_NAME, load_config
    argv = []
    for key, raw in items:
        argv += [KEY_BY_NAME[key].flag, raw]
    errors = []

    def listen(level, msg):
        if level == "error":
            errors.append(msg)
    log.listeners.append(listen)
    try:
        cfg = load_config(None, argv, base_dir=str(paths.REPO))
    finally:
        log.listeners.remove(listen)
    if errors:
        raise ValueError(errors[0])
    return cfg


def configurations(sets, specs):
    """[(label, Config)]: each --config spec with the --set items under it."""
    common = [parse_assignment(s) for s in sets]
    parsed = [parse_config(s) for s in specs] or [(None, [])]
    out, labels = [], set()
    for label, items in parsed:
        label = label or (",".join("%s=%s" % kv for kv in items) or "skill")
        if label in labels or label == BASELINE:
            raise ValueError("configuration label %r used twice" % label)
        labels.add(label)
        out.append((label, load_skill_config(common + items)))
    return out


# -- what runs on a frame -------------------------------------------------------------------

class Step(object):
    """One frame through a runner: the uint8 matte at frame size, ok, ms, and the output
    picture (NV21, or BGR for the baseline) for the contact sheets."""

    def __init__(self, alpha, ok, ms, output):
        self.alpha, self.ok, self.ms, self.output = alpha, ok, ms, output


class SkillRunner(object):
    """The skill: open_pipeline(cfg), a fresh one per scene, process(frame) per frame."""

    def __init__(self, label, cfg):
        self.label = label
        self.cfg = cfg
        self.pipeline = None

    def open(self):
        from utils.pipeline import open_pipeline
        self.pipeline = open_pipeline(self.cfg)

    def step(self, nv21):
        t0 = time.perf_counter()
        result = self.pipeline.process(nv21)
        ms = (time.perf_counter() - t0) * 1e3
        return Step(result.alpha, result.ok, ms, result.output)

    def close(self):
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None


class NetworkRunner(object):
    """The per-frame network: the model on the hardware-resized NV21, alpha scaled to the
    frame (bilinear), no prior, no post-processing. Keeps no state from frame to frame."""

    def __init__(self, label=BASELINE, model=BASELINE_MODEL, width=256, height=144):
        import hilens
        from utils.pipeline import hardware_resizer
        from utils import nv21
        self.label = label
        try:
            self.model = hilens.Model(model)
        except Exception as e:  # hilens.CreateError
            raise ValueError("cannot load the per-frame network %s (%s: %s)"
                             % (model, type(e).__name__, e))
        self.name = model
        self.size = (int(width), int(height))
        self.resize = hardware_resizer()
        self.fallback = nv21.resize

    def open(self):
        pass

    def step(self, nv21):
        t0 = time.perf_counter()
        mw, mh = self.size
        h, w = nv21.shape[0] * 2 // 3, nv21.shape[1]
        try:
            small = np.ascontiguousarray(self.resize(nv21, mw, mh))
        except ValueError:  # outside the hardware's range: OpenCV, as the skill falls back
            small = self.fallback(nv21, mw, mh)
        out = self.model.infer([small.reshape(-1)])
        if not isinstance(out, (list, tuple)):
            raise RuntimeError("per-frame network %s: infer returned error code %r"
                               % (self.name, out))
        a = np.clip(np.asarray(out[0], np.float32).reshape(mh, mw), 0.0, 1.0)
        alpha = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        alpha = (alpha * 255.0 + 0.5).astype(np.uint8)
        ms = (time.perf_counter() - t0) * 1e3
        return Step(alpha, True, ms, None)

    def close(self):
        pass


def camera_frame(image):
    """NV21 as the camera delivers it: NV21 as it is, a BGR picture via hilens.cvt_color."""
    import hilens
    if image.ndim == 2:
        return image
    nv21 = hilens.cvt_color(np.ascontiguousarray(image), hilens.BGR2YUV_NV21)
    if nv21 is None:
        raise ValueError("hilens.cvt_color made no NV21 of a %s picture" % (image.shape,))
    return nv21


def _bgr(picture):
    return picture if picture.ndim == 3 else cv2.cvtColor(picture, cv2.COLOR_YUV2BGR_NV21)


def _plain_composite(nv21, alpha):
    """The baseline's picture for the sheets: the frame over grey by its matte."""
    bgr = _bgr(nv21).astype(np.float32)
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    return (bgr * a + 128.0 * (1.0 - a)).astype(np.uint8)


# -- running a suite ------------------------------------------------------------------------

def badness(suite, rec, dropout):
    """How bad a frame looks, for the contact sheets (larger is worse)."""
    if dropout:
        return 3.0
    if suite == "multi" and rec.get("persons"):
        return 1.0 - min(rc for rc, _ in rec["persons"])
    if rec["iou"] == rec["iou"]:
        return 1.0 - rec["iou"]
    if rec["gt_area"] == rec["gt_area"]:      # an empty GT: haze
        return min(1.0, 20.0 * rec["mean_alpha"])
    s, n = rec["static"]
    return min(1.0, 20.0 * s / n) if n else 0.0


def caption(scene, rec, dropout, prev_area, next_area):
    text = "%s  t=%d" % (scene.name, rec["t"])
    if rec["phase"]:
        text += " %s" % rec["phase"]
    if dropout:
        text += "  DROPOUT area %.1f%% -> %.1f%% -> %.1f%%" % (
            100 * prev_area, 100 * rec["area"], 100 * next_area)
    elif rec["iou"] == rec["iou"]:
        text += "  IoU %.3f" % rec["iou"]
    if rec.get("persons"):
        text += "  recall " + "/".join("%.2f" % rc for rc, _ in rec["persons"])
    if rec["gt_area"] == 0:
        text += "  mean alpha %.4f" % rec["mean_alpha"]
    s, n = rec["static"]
    if rec["gt_area"] != rec["gt_area"] and n:
        text += "  static |d alpha| %.4f" % (s / n)
    return text


class _Lane(object):
    """One runner's view of one scene: the records, and last frame kept for the sheet until
    its dropout status is known (one frame later)."""

    def __init__(self, runner, suite, scene, worst):
        self.runner = runner
        self.suite = suite
        self.scene = scene
        self.worst = worst
        self.track = vm.Tracker(persons=scene.people > 1, photo=suite == "closeup")
        self.pending = None

    def add(self, frame, nv21, y, step):
        rec = self.track.add(step.alpha, frame.gt, y, frame.phase, step.ok, step.ms)
        self._settle(next_area=rec["area"])
        if self.worst.k:
            out = None if step.output is None else step.output.copy()
            self.pending = (rec, nv21, step.alpha.copy(), out, frame.gt)

    def _settle(self, next_area=None):
        if self.pending is None:
            return
        rec, nv21, alpha, out, gt = self.pending
        recs = self.track.records
        t = rec["t"]
        prev_area = recs[t - 1]["area"] if t else None
        drop = False
        if prev_area is not None and next_area is not None:
            gts = [recs[t - 1]["gt_area"], rec["gt_area"],
                   recs[t + 1]["gt_area"] if t + 1 < len(recs) else NAN]
            drop = bool(vm.dropouts([prev_area, rec["area"], next_area],
                                    None if gts[0] != gts[0] else gts))
        b = badness(self.suite, rec, drop)
        self.worst.offer(b, self.scene.name, t, lambda: (
            caption(self.scene, rec, drop, prev_area, next_area), _bgr(nv21), alpha,
            _plain_composite(nv21, alpha) if out is None else _bgr(out), gt))
        self.pending = None

    def finish(self):
        self._settle()
        recs = self.track.records
        gt = [r["gt_area"] for r in recs]
        drops = vm.dropouts([r["area"] for r in recs], None if not recs or gt[0] != gt[0]
                            else gt)
        return recs, drops


def run_suite(suite, scene_list, runners, sheet_rows=8, echo=print):
    """{label: [(scene, records, dropout frames, extra)]} and {label: Worst} of a suite:
    every frame rendered once, converted to NV21 once and given to every runner."""
    results = dict((r.label, []) for r in runners)
    # a few scenes (DAVIS, the clips) give several frames each, many scenes one each
    per_scene = max(1, -(-sheet_rows // max(1, len(scene_list))))
    worst = dict((r.label, sheets.Worst(sheet_rows, per_scene)) for r in runners)
    for scene in scene_list:
        lanes = []
        for r in runners:
            r.open()
            lanes.append(_Lane(r, suite, scene, worst[r.label]))
        room = vm.EmptyRoom() if scene.name in sc.EMPTY_REFERENCE else None
        try:
            for frame in scene:
                # a copy: a camera may hand out the same buffer again (the sheets keep frames)
                nv21 = camera_frame(frame.image) if frame.image.ndim == 3 else frame.image.copy()
                y = nv21[:nv21.shape[0] * 2 // 3]
                if room is not None:
                    room.add(y)
                for lane in lanes:
                    lane.add(frame, nv21, y, lane.runner.step(nv21))
        finally:
            for r in runners:
                r.close()
        extra = {}
        if room is not None:
            # the empty frames, and who is in view by the picture alone (a static camera)
            extra = {"empty": room.empty(),
                     "in_view": vm.presence_runs([not q for q in room.quiet])}
        for lane in lanes:
            recs, drops = lane.finish()
            results[lane.runner.label].append((scene, recs, drops, extra))
    return results, worst


# -- summaries ------------------------------------------------------------------------------

def _mean(values):
    v = [x for x in values if x == x]
    return float(np.mean(v)) if v else NAN


def _all(runs, key, where=lambda r: True):
    return [r[key] for _, recs, _, _ in runs for r in recs if where(r)]


def _common(runs):
    ms = _all(runs, "ms")
    return {"frames": len(ms), "ms": _mean(ms[1:] if len(ms) > 1 else ms),
            "failed": sum(1 for ok in _all(runs, "ok") if not ok),
            "dropouts": sum(len(d) for _, _, d, _ in runs)}


def _events(runs):
    appear, clear, censored = [], [], 0
    for _, recs, _, _ in runs:
        a, c, n = vm.appear_clear(recs)
        appear += a
        clear += c
        censored += n
    return {"appear": _mean(appear), "clear": _mean(clear), "censored": censored,
            "entries": len(appear), "exits": len(clear)}


def _phases(runs):
    return vm.by_phase([(recs, set(d)) for _, recs, d, _ in runs])


def summarize_davis(runs):
    ious = _all(runs, "iou")
    out = {"iou": _mean(ious), "lost": _mean([float(i < 0.5) for i in ious]),
           "tempo_err": _mean(_all(runs, "step_err")) * 1e3}
    for scene, recs, _, _ in runs:
        out["iou:" + scene.name] = _mean([r["iou"] for r in recs])
    out.update(_common(runs))
    return out


def summarize_walks(runs, kinds):
    out = {}
    for kind in kinds:
        ph = _phases([r for r in runs if sc.kind_of(r[0]) == kind])
        for phase in ("standing", "moving", "entering", "leaving"):
            out["%s:%s" % (kind, phase)] = ph.get(phase, {}).get("iou", NAN)
    ph = _phases(runs)
    for phase in vm.PHASES:
        out["iou:" + phase] = ph.get(phase, {}).get("iou", NAN)
        out["tempo_err:" + phase] = ph.get(phase, {}).get("tempo_err", NAN)
    out["empty_alpha"] = ph.get("empty", {}).get("mean_alpha", NAN)
    out["dropouts_by_phase"] = "/".join(str(ph.get(p, {}).get("dropouts", 0))
                                        for p in ("standing", "moving", "entering", "leaving"))
    out["iou"] = _mean(_all(runs, "iou"))
    out["tempo_err"] = _mean(_all(runs, "step_err")) * 1e3
    out.update(_events(runs))
    out.update(_common(runs))
    out["phases"] = ph
    return out


def summarize_closeup(runs):
    out = dict((k, _mean(_all(runs, k))) for k in ("fg_iou", "miou", "boundary_f", "mae"))
    out["n"] = len(runs)
    out.update(_common(runs))
    return out


def summarize_multi(runs):
    out = vm.person_stats([r for _, recs, _, _ in runs for r in recs])
    out["iou"] = _mean(_all(runs, "iou"))
    out.update(_common(runs))
    return out


def summarize_still(runs):
    out = {"iou": _mean(_all(runs, "iou")), "tempo_err": _mean(_all(runs, "step_err")) * 1e3}
    out.update(_common(runs))
    return out


def summarize_clips(runs):
    """Static flicker and dropouts over all clips and per clip; on a clip with a known empty
    room (scenes.EMPTY_REFERENCE) also the alpha on its empty frames and the entries and
    exits against who is in view by the picture."""
    out = {"flicker": vm.static_flicker([r for _, recs, _, _ in runs for r in recs])}
    for scene, recs, drops, extra in runs:
        key = scene.name
        out["flicker:" + key] = vm.static_flicker(recs)
        out["dropouts:" + key] = len(drops)
        out["dropout_frames:" + key] = list(drops)
        if "empty" in extra:
            out["empty_alpha:" + key] = _mean([r["mean_alpha"]
                                               for r, e in zip(recs, extra["empty"]) if e])
            m = vm.match_events(extra["in_view"], presence(recs))
            out["entry_late_view:" + key] = _mean(m["entry_late"])
            out["exit_early_view:" + key] = _mean(m["exit_early"])
            out["missed_view:" + key] = m["missed"]
            out["in_view:" + key] = extra["in_view"]
    out.update(_common(runs))
    return out


SUMMARIES = {
    "davis": summarize_davis,
    "far": lambda runs: summarize_walks(runs, ("bust", "body")),
    "closeup": summarize_closeup,
    "multi": summarize_multi,
    "still": summarize_still,
    "walk": lambda runs: summarize_walks(runs, ("near", "body")),
    "clips": summarize_clips,
}


def presence(recs):
    return vm.presence_runs([r["area"] >= vm.PRESENT_AREA for r in recs])


def against_baseline(suite, rows, results):
    """Adds the columns that compare a row with the per-frame network on the same frames."""
    base = rows.get(BASELINE)
    if base is None:
        return
    for label, row in rows.items():
        if suite == "still":
            row["tempo_err_x"] = row["tempo_err"] / base["tempo_err"] if base["tempo_err"] \
                else NAN
            row["iou_d"] = row["iou"] - base["iou"]
        if suite in ("walk", "far"):
            row["moving_d"] = row["iou:moving"] - base["iou:moving"]
            row["appear_d"] = row["appear"] - base["appear"]
        if suite == "clips":
            row["flicker_x"] = row["flicker"] / base["flicker"] if base["flicker"] else NAN
            main = "flicker:" + sc.PLATE_VIDEO
            if main in row and base.get(main):
                row["flicker_x:" + sc.PLATE_VIDEO] = row[main] / base[main]
            late, early, missed = [], [], 0
            for (scene, recs, _, _), (_, brecs, _, _) in zip(results[label], results[BASELINE]):
                m = vm.match_events(presence(brecs), presence(recs))
                late += m["entry_late"]
                early += m["exit_early"]
                missed += m["missed"]
                row["events:" + scene.name] = m
            row["entry_late"] = _mean(late)
            row["exit_early"] = _mean(early)
            row["entries_missed"] = missed


def per_scene(runs):
    out = {}
    for scene, recs, drops, _ in runs:
        d = {"frames": len(recs), "iou": _mean([r["iou"] for r in recs]),
             "tempo_err": _mean([r["step_err"] for r in recs]) * 1e3,
             "mean_alpha": _mean([r["mean_alpha"] for r in recs]),
             "dropouts": list(drops)}
        if scene.suite == "clips":
            d["flicker"] = vm.static_flicker(recs)
            d["area"] = [round(r["area"], 5) for r in recs]
        if scene.suite in ("walk", "far"):
            a, c, n = vm.appear_clear(recs)
            d.update(appear=a, clear=c, censored=n)
        out[scene.name] = d
    return out


# -- tables ---------------------------------------------------------------------------------

def _pct(v):
    return "%.1f%%" % (100 * v)


def columns(suite, rows):
    """[(key, header, format)] of a suite's table."""
    f4, f2, d = "{:.4f}", "{:.2f}", "{:d}"
    if suite == "davis":
        clips = sorted({k[4:] for row in rows.values() for k in row if k.startswith("iou:")})
        return ([("iou", "IoU", f4), ("lost", "lost (IoU<0.5)", _pct),
                 ("tempo_err", "tErr e-3", f2), ("dropouts", "dropouts", d)]
                + [("iou:" + c, c, f4) for c in clips] + [("ms", "ms/frame", "{:.1f}")])
    if suite in ("far", "walk"):
        kinds = ("bust", "body") if suite == "far" else ("near", "body")
        cols = []
        for kind in kinds:
            cols += [("%s:standing" % kind, "%s standing" % kind, f4),
                     ("%s:moving" % kind, "%s moving" % kind, f4)]
        if suite == "walk":
            cols += [("iou:entering", "entering", f4), ("iou:leaving", "leaving", f4)]
            cols += [("tempo_err:" + p, "tErr %s" % p, f2) for p in vm.PHASES]
        cols += [("empty_alpha", "empty alpha", f4), ("appear", "appear", f2),
                 ("clear", "clear", f2), ("censored", "censored", d),
                 ("dropouts", "dropouts", d), ("dropouts_by_phase", "dropouts s/m/e/l", str)]
        if BASELINE in rows:
            cols += [("moving_d", "moving IoU - net", "{:+.4f}"),
                     ("appear_d", "appear - net", "{:+.2f}")]
        return cols + [("ms", "ms/frame", "{:.1f}")]
    if suite == "closeup":
        return [("n", "photos", d), ("fg_iou", "fg IoU", f4), ("miou", "mIoU", f4),
                ("boundary_f", "boundary F", f4), ("mae", "MAE", f4), ("ms", "ms/frame", "{:.1f}")]
    if suite == "multi":
        return [("iou", "IoU", f4), ("person_iou", "person IoU", f4),
                ("person_recall", "person recall", f4), ("found", "persons found", _pct),
                ("all_found", "all found", _pct), ("dropouts", "dropouts", d),
                ("ms", "ms/frame", "{:.1f}")]
    if suite == "still":
        cols = [("iou", "IoU", f4), ("tempo_err", "tErr e-3", f2), ("dropouts", "dropouts", d)]
        if BASELINE in rows:
            cols += [("tempo_err_x", "tErr x net", "{:.3f}"), ("iou_d", "IoU - net", "{:+.4f}")]
        return cols + [("ms", "ms/frame", "{:.1f}")]
    if suite == "clips":
        main = sc.PLATE_VIDEO
        cols = [("flicker", "static flicker e-3", "{:.3f}")]
        if BASELINE in rows:
            cols += [("flicker_x", "x net", "{:.3f}")]
        cols += [("dropouts", "dropouts", d)]
        if any(("flicker:" + main) in row for row in rows.values()):
            cols += [("flicker:" + main, "1by1 flicker e-3", "{:.3f}")]
            if BASELINE in rows:
                cols += [("flicker_x:" + main, "1by1 x net", "{:.3f}")]
            cols += [("dropouts:" + main, "1by1 dropouts", d),
                     ("empty_alpha:" + main, "1by1 empty alpha", f4),
                     ("entry_late_view:" + main, "1by1 entries late vs view", f2),
                     ("exit_early_view:" + main, "1by1 exits early vs view", f2)]
        if BASELINE in rows:
            cols += [("entry_late", "entries late vs net", f2),
                     ("exit_early", "exits early vs net", f2),
                     ("entries_missed", "entries missed vs net", d)]
        return cols + [("ms", "ms/frame", "{:.1f}")]
    raise ValueError(suite)


def _cell(v, fmt):
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if callable(fmt):
        return fmt(v)
    return fmt.format(int(v) if fmt == "{:d}" else v)


def markdown_table(rows, cols):
    head = "| configuration | " + " | ".join(h for _, h, _ in cols) + " |"
    rule = "|---|" + "---|" * len(cols)
    lines = [head, rule]
    for label, row in rows.items():
        lines.append("| %s | %s |" % (label, " | ".join(_cell(row.get(k), f)
                                                          for k, _, f in cols)))
    return "\n".join(lines)


LEGENDS = {
    "davis": "IoU: mean over frames; lost: frames with IoU < 0.5; tErr: temporal error x 1e-3; "
             "dropouts: single-frame collapses of the person area; per clip: its mean IoU.",
    "far": "IoU per kind and phase (bust: hsd at 0.25 of the frame height, body: ccp at 0.45); "
           "empty alpha: mean alpha on empty frames; appear / clear: frames until the person "
           "is found (IoU >= 0.5) / the room is clear (mean alpha < 0.01), mean per event; "
           "censored: events the scene ended first; dropouts s/m/e/l: standing / moving / "
           "entering / leaving.",
    "closeup": "hsd photos, one frame each, fresh skill; IoU and boundary F of alpha >= 0.5.",
    "multi": "person IoU / recall: per person, the frame split between the people (nearest "
             "person); found: recall >= 0.5; all found: frames where every person is found.",
    "still": "noisy still portraits (drift, exposure flicker, noise); tErr x 1e-3; x net: "
             "ratio to the per-frame network on the same frames.",
    "walk": "IoU per kind and phase (near: hsd at 0.55-0.9 of the height, body: ccp at "
            "0.7-0.95), entering / leaving: partly in view; tErr x 1e-3 per phase; appear / "
            "clear as in far; dropouts s/m/e/l: standing / moving / entering / leaving.",
    "clips": "static flicker: mean |d alpha| where |dY| < 3, x 1e-3; 1by1: "
             "one-by-one-person-detection.mp4 (empty alpha on its empty-room frames; entries "
             "/ exits against who is in view by the picture (a difference to the empty room; a "
             "shadow counts), and against the per-frame "
             "network's presence: frames late / early, mean per event).",
}


def per_clip_table(rows):
    """Clips as rows, each configuration's static flicker and dropouts as columns."""
    names = sorted({k.split(":", 1)[1] for row in rows.values() for k in row
                    if k.startswith("flicker:")})
    lines = ["| clip | " + " | ".join("%s flicker e-3 / dropouts" % label for label in rows)
             + " |", "|---|" + "---|" * len(rows)]
    for n in names:
        lines.append("| %s | %s |" % (n, " | ".join(
            "%s / %s" % (_cell(row.get("flicker:" + n), "{:.3f}"),
                         _cell(row.get("dropouts:" + n), "{:d}")) for row in rows.values())))
    return "\n".join(lines)


def suite_tables(suite, rows):
    """The suite's markdown: its table, a legend line and (clips) the per-clip table."""
    text = markdown_table(rows, columns(suite, rows)) + "\n\n" + LEGENDS[suite]
    if suite == "clips":
        text += "\n\n" + per_clip_table(rows)
    return text


def _jsonable(x):
    if isinstance(x, dict):
        return dict((str(k), _jsonable(v)) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if x != x else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


def _safe(label):
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_") or "row"


# -- entry points ---------------------------------------------------------------------------

def evaluate(suites, configs, baseline=True, baseline_model=BASELINE_MODEL, split="val",
             seed=0, quick=False, size=sc.FRAME_SIZE, sheet_dir=None, sheet_rows=8,
             echo=print, verbose=False):
    """Runs the suites; returns the JSON-able report. `configs`: [(label, Config)]. The
    hilens log shows warnings and errors only unless `verbose`."""
    import hilens
    import main as skill
    if not verbose:
        hilens.set_log_level(hilens.WARNING)
    hilens.init(skill.VERIFY)
    try:
        return _evaluate(suites, configs, baseline, baseline_model, split, seed, quick, size,
                         sheet_dir, sheet_rows, echo)
    finally:
        hilens.terminate()
        hilens.set_log_level(hilens.INFO)   # the simulator's default


def _evaluate(suites, configs, baseline, baseline_model, split, seed, quick, size, sheet_dir,
              sheet_rows, echo):
    runners = [SkillRunner(label, cfg) for label, cfg in configs]
    if baseline:
        runners.append(NetworkRunner(BASELINE, baseline_model))
    report = {"settings": {"split": split, "seed": seed, "quick": quick, "frame_size": size,
                           "configurations": dict((label, cfg.as_dict())
                                                  for label, cfg in configs),
                           "baseline": baseline_model if baseline else None},
              "suites": {}}
    plates = None
    for suite in suites:
        t0 = time.perf_counter()
        if suite in ("far", "multi", "walk") and plates is None:
            plates = sc.load_plates()
        scene_list = sc.build(suite, split, seed, quick, size, plates)
        results, worst = run_suite(suite, scene_list, runners, sheet_rows if sheet_dir else 0)
        rows = dict((label, SUMMARIES[suite](runs)) for label, runs in results.items())
        against_baseline(suite, rows, results)
        seconds = time.perf_counter() - t0
        frames = sum(len(recs) for _, recs, _, _ in results[runners[0].label])
        table = suite_tables(suite, rows)
        echo("\n## %s: %d scenes, %d frames, %.1f s\n\n%s"
             % (suite, len(scene_list), frames, seconds, table))
        notes = [(label, [k for k in row if k.startswith("dropout_frames:") and row[k]])
                 for label, row in rows.items()]
        for label, keys in notes:
            for k in keys:
                echo("- %s, %s: dropouts at frames %s"
                     % (label, k.split(":", 1)[1], ", ".join(map(str, rows[label][k]))))
        for label, row in rows.items():
            if row.get("failed"):
                echo("- %s: inference failed on %d frames (scored as the skill shows them)"
                     % (label, row["failed"]))
        entry = {"seconds": seconds, "frames": frames, "table": table,
                 "scenes": [{"name": s.name, "seed": s.seed, "split": s.split,
                             "frames": len(recs), "people": s.people}
                            for s, recs, _, _ in results[runners[0].label]],
                 "rows": rows,
                 "per_scene": dict((label, per_scene(runs)) for label, runs in results.items())}
        if sheet_dir:
            os.makedirs(sheet_dir, exist_ok=True)
            entry["sheets"] = {}
            for label, w in worst.items():
                img = sheets.sheet(w.rows(), "%s - %s, worst frames first" % (suite, label))
                if img is None:
                    continue
                path = os.path.join(sheet_dir, "%s-%s.png" % (suite, _safe(label)))
                if not cv2.imwrite(path, img):
                    raise OSError("cannot write %s" % path)
                entry["sheets"][label] = path
        report["suites"][suite] = _jsonable(entry)
    return report


def parse_size(text):
    m = re.match(r"^(\d+)x(\d+)$", text.strip().lower())
    if not m or int(m.group(1)) % 2 or int(m.group(2)) % 2:
        raise argparse.ArgumentTypeError("expected an even WxH like 640x360, got %r" % text)
    return int(m.group(1)), int(m.group(2))


def parse_suites(text):
    names = [s.strip() for s in text.split(",") if s.strip()]
    if names == ["all"]:
        return list(sc.SUITES)
    bad = [s for s in names if s not in sc.SUITES]
    if bad or not names:
        raise argparse.ArgumentTypeError("unknown suite %s, expected a comma list of %s or all"
                                         % (", ".join(bad) or "''", ", ".join(sc.SUITES)))
    return names


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.evaluate.skill_eval",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", type=parse_suites, default=list(sc.SUITES),
                   help="comma list of %s, or all (default)" % ", ".join(sc.SUITES))
    p.add_argument("--config", action="append", default=[], metavar="[LABEL:]K=V[,K=V]",
                   help="one row: the skill with these config keys (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config key for every row (repeatable)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="leave out the per-frame network row")
    p.add_argument("--baseline-model", default=BASELINE_MODEL,
                   help="the per-frame network (default %(default)s)")
    p.add_argument("--split", choices=("val", "train", "all"), default="val",
                   help="which people the scenes show (tools/evaluate/people.py; default val)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frame-size", type=parse_size, default=sc.FRAME_SIZE,
                   help="WxH of the synthetic scenes (default 640x360)")
    p.add_argument("--quick", action="store_true", help="a few scenes of each suite")
    p.add_argument("--json", help="write the whole report here")
    p.add_argument("--markdown", help="write the tables here")
    p.add_argument("--sheets", help="folder for the contact sheets (PNG)")
    p.add_argument("--sheet-rows", type=int, default=8, help="frames per sheet (default 8)")
    p.add_argument("--verbose", action="store_true", help="keep the skill's INFO log lines")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    configs = configurations(args.set, args.config)
    for target in (args.json, args.markdown):
        if target and os.path.isdir(target):
            raise ValueError("%s is a folder, expected a file name" % target)
    lines = []

    def echo(text):
        print(text)
        sys.stdout.flush()
        lines.append(text)
    report = evaluate(args.suite, configs, args.baseline, args.baseline_model, args.split,
                      args.seed, args.quick, args.frame_size, args.sheets, args.sheet_rows,
                      echo, args.verbose)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines).lstrip() + "\n")
    return report


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, RuntimeError) as exc:
        sys.exit("skill_eval: error: %s" % exc)
