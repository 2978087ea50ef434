"""Segmentation metrics of one picture, shared by every evaluation tool.

Imports only numpy, OpenCV and tools.paths (standard library) so that both the project venv and
the MediaPipe reference venv (.venv-mp, no onnx) can use it; the two sides must score alphas with
the same code.

Definitions (alpha is a float map in [0, 1], gt a boolean person mask of the same size):
- foreground IoU: |P & G| / |P | G| with P = alpha >= 0.5; 1.0 when both are empty.
- mean IoU: mean of the foreground IoU and the background IoU (same formula on ~P, ~G).
- boundary F-score (after the DAVIS contour measure F): the boundary of a mask is its pixels
  that have a 4-neighbour outside it (the image frame is not a boundary). A predicted
  boundary pixel is correct when a GT boundary pixel lies within r = max(1, round(0.0075 *
  image diagonal)) pixels (disk); precision uses the predicted boundary, recall the GT one,
  F = 2PR / (P + R). Both boundaries empty -> 1.0, exactly one empty -> 0.0.
- MAE: mean |alpha - gt| over pixels, alpha unthresholded.
(Metrics over time, of the skill's mattes: tools/evaluate/video_metrics.py.)

Also here: listing the image/mask pairs of a folder laid out like ../shared/data/hsd and the
plain-text result table, so both venvs read data and print results the same way.
"""
import os

import cv2
import numpy as np

from tools import paths

BOUNDARY_TOLERANCE = 0.0075
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

# Column key -> (header, format) for the tables every tool prints.
COLUMNS = {
    "n": ("n", "{:d}"),
    "fg_iou": ("fg IoU", "{:.4f}"),
    "miou": ("mIoU", "{:.4f}"),
    "boundary_f": ("bound F", "{:.4f}"),
    "mae": ("MAE", "{:.4f}"),
    "ms": ("ms/img", "{:.2f}"),
    # agreement with a reference run (eval_seg.py --reference)
    "d_iou_mean": ("|dIoU| mean", "{:.4f}"),
    "d_iou_max": ("|dIoU| max", "{:.4f}"),
}


def _ratio(num, den, empty):
    return float(num) / float(den) if den else empty


def binarize(alpha, threshold=0.5):
    return np.asarray(alpha) >= threshold


def iou(pred, gt):
    """Foreground IoU of two boolean masks; 1.0 when both are empty."""
    pred = np.asarray(pred, bool)
    gt = np.asarray(gt, bool)
    return _ratio(np.count_nonzero(pred & gt), np.count_nonzero(pred | gt), 1.0)


def mean_iou(pred, gt):
    """Mean of foreground and background IoU."""
    pred = np.asarray(pred, bool)
    gt = np.asarray(gt, bool)
    return 0.5 * (iou(pred, gt) + iou(~pred, ~gt))


def mask_boundary(mask):
    """Pixels of `mask` with a 4-neighbour outside it; the image frame counts as inside."""
    m = np.asarray(mask, np.uint8)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    # erode's default border value is "+inf", so a mask touching the frame keeps no edge there.
    return (m > 0) & (cv2.erode(m, cross) == 0)


def boundary_radius(shape, tolerance=BOUNDARY_TOLERANCE):
    h, w = shape[:2]
    return max(1, int(round(tolerance * np.hypot(h, w))))


def boundary_f(pred, gt, tolerance=BOUNDARY_TOLERANCE):
    """Boundary F-score of two boolean masks (see module docstring)."""
    bp = mask_boundary(pred)
    bg = mask_boundary(gt)
    n_p = np.count_nonzero(bp)
    n_g = np.count_nonzero(bg)
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    r = boundary_radius(bp.shape, tolerance)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    near_g = cv2.dilate(bg.view(np.uint8), disk) > 0
    near_p = cv2.dilate(bp.view(np.uint8), disk) > 0
    precision = np.count_nonzero(bp & near_g) / float(n_p)
    recall = np.count_nonzero(bg & near_p) / float(n_g)
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def mae(alpha, gt):
    return float(np.mean(np.abs(np.asarray(alpha, np.float32) - np.asarray(gt, np.float32))))


def score_image(alpha, gt, threshold=0.5):
    """All per-image metrics of an alpha map (HxW float in [0,1]) against a boolean GT mask."""
    alpha = np.asarray(alpha, np.float32)
    gt = np.asarray(gt, bool)
    if alpha.shape != gt.shape:
        raise ValueError("alpha shape %s does not match mask shape %s" % (alpha.shape, gt.shape))
    pred = alpha >= threshold
    return {
        "fg_iou": iou(pred, gt),
        "miou": mean_iou(pred, gt),
        "boundary_f": boundary_f(pred, gt),
        "mae": mae(alpha, gt),
    }


def summarize(rows, keys=("fg_iou", "miou", "boundary_f", "mae")):
    """Means of per-image metric dicts, plus n."""
    out = {"n": len(rows)}
    for k in keys:
        out[k] = float(np.mean([r[k] for r in rows])) if rows else float("nan")
    return out


def list_pairs(image_dir, mask_dir):
    """Sorted (stem, image_path, mask_path) for every image with a mask of the same stem.

    Masks may have any image extension; an image without a mask is an error, since silently
    skipping it would change the numbers.
    """
    if not os.path.isdir(image_dir):
        raise FileNotFoundError("image folder not found: %s%s" % (image_dir,
                                                                   paths.data_hint(image_dir)))
    if not os.path.isdir(mask_dir):
        raise FileNotFoundError("mask folder not found: %s%s" % (mask_dir,
                                                                 paths.data_hint(mask_dir)))
    masks = {}
    for name in os.listdir(mask_dir):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS:
            masks[stem] = os.path.join(mask_dir, name)
    pairs = []
    for name in sorted(os.listdir(image_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in IMAGE_EXTENSIONS:
            continue
        if stem not in masks:
            raise FileNotFoundError("no mask for image %s in %s" % (name, mask_dir))
        pairs.append((stem, os.path.join(image_dir, name), masks[stem]))
    if not pairs:
        raise FileNotFoundError("no images (%s) in %s" % ("/".join(IMAGE_EXTENSIONS), image_dir))
    return pairs


def read_pair(image_path, mask_path):
    """BGR uint8 image and boolean mask (mask > 127), checked to be the same size."""
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("cannot read image %s" % image_path)
    mask = cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError("cannot read mask %s" % mask_path)
    if mask.shape != image.shape[:2]:
        raise ValueError("mask %s is %dx%d, expected the image size %dx%d" % (
            mask_path, mask.shape[1], mask.shape[0], image.shape[1], image.shape[0]))
    return image, mask > 127


def format_table(results, columns=("n", "fg_iou", "miou", "boundary_f", "mae", "ms"),
                 headers=None, first="model"):
    """Plain-text table of [(row name, metrics dict)]; a missing value prints as '-'.

    Each column's (header, format) comes from COLUMNS (a key it does not know: the key as
    header, 4 decimals); `headers` renames a column's header only.
    """
    headers = dict(headers or {})
    known = COLUMNS
    layout = []
    for key in columns:
        head, fmt = known.get(key, (key, "{:.4f}"))
        layout.append((key, headers.get(key, head), fmt))
    cells = []
    for name, metrics in results:
        row = [str(name)]
        for key, _, fmt in layout:
            v = metrics.get(key)
            if v is None or (isinstance(v, float) and np.isnan(v)):
                row.append("-")
            else:
                row.append(fmt.format(int(v) if fmt == "{:d}" else v))
        cells.append(row)
    head = [first] + [h for _, h, _ in layout]
    widths = [max(len(str(c[i])) for c in [head] + cells) for i in range(len(head))]
    lines = ["  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                       for i, h in enumerate(head))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                               for i, c in enumerate(row)))
    return "\n".join(lines)
