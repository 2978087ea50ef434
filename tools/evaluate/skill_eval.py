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
tools/evaluate/video_metrics.py; summaries and tables: tools/evaluate/suite_report.py. Per suite a
markdown table, in `--json` every number and
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
from tools.evaluate.suite_report import (
    BASELINE,
    SUMMARIES,
    against_baseline,
    per_scene,
    suite_tables,
)

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
        from utils import nv21
        from utils.pipeline import hardware_resizer
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
