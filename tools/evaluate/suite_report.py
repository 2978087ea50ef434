"""What tools/evaluate/skill_eval.py reads from its runs: one summary per suite and row, the
columns that compare a row with the per-frame network, and the markdown tables.

A run of a suite is, per row (configuration), [(scene, records, dropout frames, extra)]:
records from video_metrics.Tracker, extra what the harness saw of the scene itself (for a
clip with a known empty room: its empty frames and who is in view by the picture).
"""
import numpy as np

from tools.evaluate import scenes as sc
from tools.evaluate import video_metrics as vm

BASELINE = "per-frame network"
NAN = float("nan")


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
        cols = [("iou:standing", "standing", f4), ("iou:moving", "moving", f4)]
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
    "far": "IoU per phase, all people and per kind (bust: hsd at 0.25 of the frame height, "
           "body: ccp at 0.45); empty alpha: mean alpha on empty frames; appear / clear: "
           "frames until the person is found (IoU >= 0.5) / the room is clear (mean alpha "
           "< 0.01), mean per event; censored: events the scene ended first; dropouts s/m/e/l: "
           "standing / moving / entering / leaving.",
    "closeup": "hsd photos, one frame each, fresh skill; IoU and boundary F of alpha >= 0.5.",
    "multi": "person IoU / recall: per person, the frame split between the people (nearest "
             "person); found: recall >= 0.5; all found: frames where every person is found.",
    "still": "noisy still portraits (drift, exposure flicker, noise); tErr x 1e-3; x net: "
             "ratio to the per-frame network on the same frames.",
    "walk": "IoU per phase, all people and per kind (near: hsd at 0.55-0.9 of the height, "
            "body: ccp at 0.7-0.95); entering / leaving: partly in view; tErr x 1e-3 per "
            "phase; appear / clear as in far; dropouts s/m/e/l: standing / moving / entering "
            "/ leaving.",
    "clips": "static flicker: mean |d alpha| where |dY| < 3, x 1e-3; 1by1: "
             "one-by-one-person-detection.mp4: empty alpha on its empty-room frames, entries / "
             "exits against who is in view by the picture (a difference to the empty room; a "
             "shadow counts) and against the per-frame network's presence (frames late / "
             "early, mean per event).",
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
