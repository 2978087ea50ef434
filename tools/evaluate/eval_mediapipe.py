"""Reference numbers: MediaPipe's own runtime on the image benchmark of tools/evaluate/eval_seg.py.

Runs in the MediaPipe venv (mediapipe==0.10.14, no onnx):

    .venv-mp/bin/python -m tools.evaluate.eval_mediapipe --variant both --json /tmp/mp.json

`mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)` is the 256x256
"square" network, `model_selection=1` the 144x256 "landscape" one. Each photo is given as RGB;
MediaPipe stretches it to the network size, runs the TFLite model (XNNPACK) and resizes the
mask back to the photo size itself. The selfie-segmentation graph has no temporal smoothing
(its calculators are ImageToTensor -> Inference -> TensorsToSegmentation), and the tool checks
that: the first photo is run again at the end and must give the identical mask. Masks are
scored with tools/evaluate/seg_metrics.py, the same code eval_seg.py uses; ms/img is the whole
process() call. `--json` keeps per-image metrics so eval_seg.py --reference can compare.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from tools import paths
from tools.evaluate import seg_metrics as sm

DEFAULT_DATA = str(paths.hsd())
VARIANTS = {"square": 0, "landscape": 1}


def mediapipe_masks(pairs, model_selection):
    """Yield (stem, gt, mask, ms) for each pair, then check the graph kept no state."""
    import mediapipe as mp
    with mp.solutions.selfie_segmentation.SelfieSegmentation(
            model_selection=model_selection) as seg:
        first = None
        for stem, image_path, mask_path in pairs:
            image, gt = sm.read_pair(image_path, mask_path)
            rgb = np.ascontiguousarray(image[:, :, ::-1])
            t0 = time.perf_counter()
            mask = seg.process(rgb).segmentation_mask
            ms = (time.perf_counter() - t0) * 1e3
            if first is None:
                first = (rgb, mask.copy())
            yield stem, gt, mask, ms
        again = seg.process(first[0]).segmentation_mask
        if not np.array_equal(again, first[1]):
            raise RuntimeError("MediaPipe gave a different mask for the same photo later: the "
                               "graph keeps state, so per-image numbers would be wrong")


def evaluate(pairs, variant):
    rows, times, per_image = [], [], {}
    for stem, gt, mask, ms in mediapipe_masks(pairs, VARIANTS[variant]):
        m = sm.score_image(np.clip(mask, 0, 1), gt)
        rows.append(m)
        times.append(ms)
        per_image[stem] = m
    out = sm.summarize(rows)
    out["ms"] = float(np.mean(times[1:] if len(times) > 1 else times))
    out["per_image"] = per_image
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="folder with images/ and masks/")
    p.add_argument("--variant", choices=("square", "landscape", "both"), default="both")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--json", help="write results with per-image metrics here "
                                  "(one file per variant: NAME.square.json / .landscape.json "
                                  "when --variant both)")
    args = p.parse_args(argv)
    pairs = sm.list_pairs(os.path.join(args.data, "images"), os.path.join(args.data, "masks"))
    if args.limit:
        pairs = pairs[:args.limit]
    variants = ["square", "landscape"] if args.variant == "both" else [args.variant]
    results = []
    for v in variants:
        r = evaluate(pairs, v)
        results.append(("mediapipe %s" % v, r))
        if args.json:
            path = args.json
            if len(variants) > 1:
                root, ext = os.path.splitext(args.json)
                path = "%s.%s%s" % (root, v, ext or ".json")
            with open(path, "w") as f:
                json.dump(r, f, indent=1)
    print("images: %s (%d)" % (os.path.join(args.data, "images"), len(pairs)))
    print(sm.format_table(results))
    return results


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, RuntimeError) as exc:
        sys.exit("%s: error: %s" % (os.path.basename(sys.argv[0]), exc))
