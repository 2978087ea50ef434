"""The raw network on photos with masks: model-contract segmentation ONNX models, no skill.

Every image/mask pair of a folder laid out like
../shared/data/hsd (images/NNN.jpg, masks/NNN.png) goes through

    BGR image -> resize to the model's W x H (stretched, INTER_LINEAR)
      --path aipp: -> NV21 (hilens.cvt_color) -> hilens.Model.infer([nv21, prev])  (device path)
      --path rgb:  -> RGB normalised as aipp.cfg says -> ONNX Runtime               (no NV21)
    -> alpha at model size -> cv2.resize to the image size (INTER_LINEAR)

and is scored with tools/evaluate/seg_metrics.py: foreground IoU, mean IoU (fg/bg), boundary F-score
(DAVIS-style contour F, tolerance 0.0075 x image diagonal), MAE (all per-image means; IoU and
F on alpha >= 0.5, MAE on the raw alpha) and milliseconds per runner call (model input in,
alpha out at model size; includes NV21 -> AIPP emulation on the aipp path). Feedback models get
zeros as prev_alpha. `--resize mediapipe` resizes the way MediaPipe's ImageToTensorCalculator
does (see tools/evaluate/seg_runners.py); `--reference mp.json` (from
tools/evaluate/eval_mediapipe.py --json) adds the per-image IoU difference to that run.

The skill itself (every stage, the prior as it makes it, on scenes and real video) is judged
by tools/evaluate/skill_eval.py; this tool is the raw network's photo benchmark, the one to
compare with MediaPipe's own runtime (tools/evaluate/eval_mediapipe.py).

Python API (for training loops and other tools):
    from tools.evaluate.eval_seg import evaluate_images
    from tools.evaluate.seg_runners import OnnxRgbRunner, AippRunner, TorchRunner
    r = TorchRunner(net, size=(256, 144), feedback=True)      # or OnnxRgbRunner('m.onnx')
    evaluate_images(r, 'hsd/images', 'hsd/masks', limit=None)  # -> {'fg_iou': .., ...}

CLI:
    .venv/bin/python -m tools.evaluate.eval_seg --model model/matting.onnx --path both
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np

from tools import paths
from tools.evaluate import seg_metrics as sm
from tools.evaluate.seg_runners import (
    DEFAULT_AIPP,
    RESIZE_MODES,
    AippRunner,
    OnnxRgbRunner,
    resize_to_model,
    timed,
)

DEFAULT_DATA = str(paths.hsd())


def _alpha_to(alpha_small, w, h):
    a = cv2.resize(np.asarray(alpha_small, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(a, 0.0, 1.0)


def evaluate_images(runner, image_dir, mask_dir, resize="linear", limit=None, per_image=False,
                    threshold=0.5):
    """Mean fg_iou, miou, boundary_f, mae, ms (and n) of `runner` on an image/mask folder.

    With per_image=True the result also holds 'per_image': {stem: metrics}.
    """
    w, h = runner.size
    pairs = sm.list_pairs(image_dir, mask_dir)
    if limit:
        pairs = pairs[:limit]
    rows, times, details = [], [], {}
    zeros = np.zeros((h, w), np.float32) if runner.feedback else None
    for stem, image_path, mask_path in pairs:
        image, gt = sm.read_pair(image_path, mask_path)
        small = resize_to_model(image, w, h, resize)
        alpha_small, ms = timed(runner, small, zeros)
        alpha = _alpha_to(alpha_small, image.shape[1], image.shape[0])
        m = sm.score_image(alpha, gt, threshold)
        rows.append(m)
        times.append(ms)
        details[stem] = m
    out = sm.summarize(rows)
    # The first call pays for lazy allocations; leave it out of the timing when we can.
    out["ms"] = float(np.mean(times[1:] if len(times) > 1 else times))
    if per_image:
        out["per_image"] = details
    return out


def make_runner(model, path, aipp_cfg, threads):
    if path == "rgb":
        return OnnxRgbRunner(model, aipp_cfg, threads, name=model)
    return AippRunner(model, aipp_cfg, threads, name=model)


def compare_reference(per_image, reference):
    """Mean and max |IoU - reference IoU| over the images both runs scored."""
    if "per_image" not in reference and len(reference) == 1:
        reference = next(iter(reference.values()))  # an eval_seg --json file with one row
    ref = reference.get("per_image", reference)
    common = sorted(set(per_image) & set(ref))
    if not common:
        raise ValueError("reference run shares no image with this run")
    d = np.array([abs(per_image[k]["fg_iou"] - ref[k]["fg_iou"]) for k in common])
    return {"d_iou_mean": float(d.mean()), "d_iou_max": float(d.max()), "n_common": len(common)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True,
                   help="model-contract ONNX file; repeat to compare several")
    p.add_argument("--data", default=DEFAULT_DATA,
                   help="folder with images/ and masks/ (default: hsd in the shared data, "
                        "see tools/paths.py)")
    p.add_argument("--images", help="image folder (overrides DATA/images)")
    p.add_argument("--masks", help="mask folder (overrides DATA/masks)")
    p.add_argument("--path", choices=("aipp", "rgb", "both"), default="aipp",
                   help="aipp: NV21 through the hilens simulator (device path); rgb: float RGB "
                        "straight into ONNX Runtime; both: one row each")
    p.add_argument("--resize", choices=RESIZE_MODES, default="linear")
    p.add_argument("--aipp", default=DEFAULT_AIPP, help="aipp.cfg to derive the AIPP from")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    p.add_argument("--reference", help="JSON from eval_mediapipe.py --json: per-image IoU diff")
    p.add_argument("--json", help="write all results (with per-image metrics) here")
    args = p.parse_args(argv)
    args.images = args.images or os.path.join(args.data, "images")
    args.masks = args.masks or os.path.join(args.data, "masks")
    return args


def main(argv=None):
    args = parse_args(argv)
    kinds = ["aipp", "rgb"] if args.path == "both" else [args.path]
    reference = None
    if args.reference:
        with open(args.reference) as f:
            reference = json.load(f)
    results = []
    for model in args.model:
        for path in kinds:
            runner = make_runner(model, path, args.aipp, args.threads)
            r = evaluate_images(runner, args.images, args.masks, args.resize, args.limit,
                                per_image=True)
            if reference is not None:
                r.update(compare_reference(r["per_image"], reference))
            results.append(("%s [%s]" % (runner.name, path), r))
    cols = ("n", "fg_iou", "miou", "boundary_f", "mae", "ms")
    if reference is not None:
        cols += ("d_iou_mean", "d_iou_max")
    print("images: %s (%d), resize %s" % (args.images, results[0][1]["n"], args.resize))
    print(sm.format_table(results, cols))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({name: r for name, r in results}, f, indent=1)
    return results


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, RuntimeError) as exc:
        sys.exit("%s: error: %s" % (os.path.basename(sys.argv[0]), exc))
