"""tools/evaluate/seg_metrics.py on hand-made arrays whose answers can be counted by hand."""
import os

import cv2
import numpy as np
import pytest

from tools.evaluate import seg_metrics as sm


def square(shape, y, x, k):
    m = np.zeros(shape, bool)
    m[y:y + k, x:x + k] = True
    return m


def test_iou_counts_overlap_over_union():
    gt = square((20, 20), 0, 0, 4)       # 16 px
    pred = square((20, 20), 2, 0, 4)     # 16 px, 8 shared
    assert sm.iou(pred, gt) == pytest.approx(8 / 24)
    assert sm.iou(gt, gt) == 1.0
    assert sm.iou(np.zeros((5, 5), bool), np.zeros((5, 5), bool)) == 1.0
    assert sm.iou(np.zeros((5, 5), bool), square((5, 5), 0, 0, 2)) == 0.0


def test_mean_iou_averages_foreground_and_background():
    gt = square((20, 20), 0, 0, 4)
    pred = square((20, 20), 2, 0, 4)
    bg = (400 - 24) / (400 - 8)          # ~pred & ~gt over ~pred | ~gt
    assert sm.mean_iou(pred, gt) == pytest.approx(0.5 * (8 / 24 + bg))


def test_boundary_is_the_inner_ring_and_ignores_the_image_frame():
    m = square((30, 30), 5, 5, 10)
    assert np.count_nonzero(sm.mask_boundary(m)) == 4 * 10 - 4
    left = np.zeros((12, 10), bool)
    left[:, :4] = True                    # touches top, bottom and left edges
    b = sm.mask_boundary(left)
    assert np.count_nonzero(b) == 12 and b[:, 3].all()


def test_boundary_f_known_cases():
    shape = (200, 200)                    # diagonal 283 -> radius round(2.12) = 2
    assert sm.boundary_radius(shape) == 2
    gt = square(shape, 50, 50, 10)
    assert sm.boundary_f(gt, gt) == 1.0
    # Shifted by 2 px: every boundary pixel within the 2 px disk of the other boundary.
    assert sm.boundary_f(square(shape, 52, 50, 10), gt) == 1.0
    # Far away: nothing matches.
    assert sm.boundary_f(square(shape, 150, 150, 10), gt) == 0.0
    # GT square plus a far extra blob: recall 1, precision 36 / (36 + 20).
    pred = gt | square(shape, 150, 150, 6)
    p = 36 / 56.0
    assert sm.boundary_f(pred, gt) == pytest.approx(2 * p / (p + 1))
    # Degenerate masks.
    empty = np.zeros(shape, bool)
    assert sm.boundary_f(empty, empty) == 1.0
    assert sm.boundary_f(empty, gt) == 0.0


def test_boundary_f_tolerance_scales_with_the_diagonal():
    small, big = (100, 100), (1000, 1000)  # radius 1 and 11
    shift = 3
    assert sm.boundary_f(square(small, 20 + shift, 20, 30), square(small, 20, 20, 30)) < 0.9
    assert sm.boundary_f(square(big, 200 + shift, 200, 300), square(big, 200, 200, 300)) == 1.0


def test_mae_and_score_image():
    gt = np.zeros((4, 4), bool)
    gt[:2] = True
    alpha = np.full((4, 4), 0.25, np.float32)
    alpha[:2] = 0.75
    assert sm.mae(alpha, gt) == pytest.approx(0.25)
    s = sm.score_image(alpha, gt)
    assert s["fg_iou"] == 1.0 and s["miou"] == 1.0 and s["mae"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="does not match"):
        sm.score_image(alpha[:3], gt)


def test_list_pairs_and_read_pair_errors(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    img = np.zeros((6, 8, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), img)
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), np.zeros((6, 8), np.uint8))
    pairs = sm.list_pairs(str(tmp_path / "images"), str(tmp_path / "masks"))
    assert [p[0] for p in pairs] == ["a"]
    cv2.imwrite(str(tmp_path / "images" / "b.jpg"), img)
    with pytest.raises(FileNotFoundError, match="no mask for image b.jpg"):
        sm.list_pairs(str(tmp_path / "images"), str(tmp_path / "masks"))
    cv2.imwrite(str(tmp_path / "masks" / "b.png"), np.zeros((5, 8), np.uint8))
    with pytest.raises(ValueError, match="expected the image size 8x6"):
        sm.read_pair(str(tmp_path / "images" / "b.jpg"), str(tmp_path / "masks" / "b.png"))
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        sm.list_pairs(os.path.join(str(tmp_path), "nope"), str(tmp_path / "masks"))


def test_format_table_lists_rows_and_dashes_missing_values():
    text = sm.format_table([("m1", {"n": 3, "fg_iou": 0.5, "miou": 0.25}),
                            ("other", {"n": 1, "fg_iou": float("nan")})],
                           ("n", "fg_iou", "miou"))
    lines = text.splitlines()
    assert lines[0].split() == ["model", "n", "fg", "IoU", "mIoU"]
    assert lines[2].split() == ["m1", "3", "0.5000", "0.2500"]
    assert lines[3].split() == ["other", "1", "-", "-"]


def test_format_table_names_unknown_columns_by_their_key():
    text = sm.format_table([("m", {"fg_iou": 0.5, "d_all": 5.742})], ("fg_iou", "d_all"),
                           headers={"fg_iou": "photo IoU"})
    head, _, row = text.splitlines()
    assert head.split() == ["model", "photo", "IoU", "d_all"]
    assert row.split() == ["m", "0.5000", "5.7420"]
