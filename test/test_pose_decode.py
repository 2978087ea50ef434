"""The numpy half of the person pipeline (utils/person_detect.py, utils/person_roi.py) on
constructed inputs; tests against MediaPipe's own outputs are in test_pose_reference.py."""
import math

import numpy as np
import pytest

from utils import person_detect as pd
from utils import person_roi as pr


def test_anchors_follow_the_ssd_options():
    a = pd.ssd_anchors()
    assert a.shape == (2254, 2) and a.dtype == np.float32
    # layer 0: 28x28 cells, 2 anchors each; layer 1: 14x14 x 2; layers 2-4 merged: 7x7 x 6
    assert np.allclose(a[0], a[1]) and np.allclose(a[0], [0.5 / 28, 0.5 / 28])
    assert np.allclose(a[2], [1.5 / 28, 0.5 / 28])  # row-major: x varies first
    assert np.allclose(a[1568], [0.5 / 14, 0.5 / 14])
    assert np.allclose(a[1568 + 392:1568 + 392 + 6], [0.5 / 7, 0.5 / 7])
    assert np.allclose(a[-1], [6.5 / 7, 6.5 / 7])


def _raw(anchor, logit, box=(0, 0, 20, 40), kps=((0, 10), (0, -30), (0, 0), (0, 0))):
    boxes = np.zeros((2254, 12), np.float32)
    logits = np.full(2254, -10.0, np.float32)
    boxes[anchor, :4] = box
    boxes[anchor, 4:] = np.ravel(kps)
    logits[anchor] = logit
    return boxes, logits


def test_decode_scales_by_224_around_the_anchor_x_first():
    anchors = pd.ssd_anchors()
    k = 1568 + 14 * 5 + 3 * 2  # a 14x14-layer anchor
    boxes, logits = _raw(k, 2.0, box=(22.4, -11.2, 44.8, 89.6))
    dets = pd.decode(boxes, logits, anchors)
    assert len(dets.scores) == 1
    assert dets.scores[0] == pytest.approx(1 / (1 + math.exp(-2.0)))
    cx, cy = anchors[k] + [0.1, -0.05]
    assert np.allclose(dets.boxes[0], [cx - 0.1, cy - 0.2, cx + 0.1, cy + 0.2], atol=1e-6)
    assert np.allclose(dets.keypoints[0, 0], anchors[k] + [0, 10 / 224], atol=1e-6)


def test_decode_keeps_scores_from_the_threshold_and_drops_negative_sizes():
    anchors = pd.ssd_anchors()
    boxes, logits = _raw(10, 0.0)            # sigmoid(0) = 0.5: kept (score >= 0.5)
    boxes[20, :4] = (0, 0, -5, 5)            # negative width: dropped
    logits[20] = 3.0
    logits[30] = -0.01                       # just below 0.5
    dets = pd.decode(boxes, logits, anchors)
    assert len(dets.scores) == 1 and dets.scores[0] == 0.5
    assert len(pd.decode(boxes, logits, anchors, min_score=0.9).scores) == 0


def test_scores_are_clipped_before_the_sigmoid():
    assert pd.scores_from_logits(np.array([1e4, -1e4], np.float32)).tolist() == \
        pytest.approx([1 / (1 + math.exp(-100)), 1 / (1 + math.exp(100))])


def _dets(scores, boxes, kps=None):
    boxes = np.asarray(boxes, np.float32)
    if kps is None:
        kps = np.repeat(boxes[:, None, :2], 4, axis=1)
    return pd.Detections(np.asarray(scores, np.float32), boxes, np.asarray(kps, np.float32))


def test_weighted_nms_averages_a_cluster_with_the_scores_as_weights():
    d = _dets([0.6, 0.9, 0.8], [[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5],
                                [0.6, 0.6, 0.9, 0.9]])
    out = pd.weighted_nms(d)
    assert out.scores.tolist() == pytest.approx([0.9, 0.8])  # best first, score kept
    w = np.array([0.9, 0.6])
    want = (w[:, None] * d.boxes[[1, 0]]).sum(0) / w.sum()
    assert np.allclose(out.boxes[0], want) and np.allclose(out.boxes[1], d.boxes[2])
    assert np.allclose(out.keypoints[0, 0], want[:2])


def test_weighted_nms_keeps_boxes_at_the_iou_threshold_apart():
    # IoU of two unit squares shifted by s is (1 - s) / (1 + s): 0.3 at s = 7/13
    s = 7 / 13 + 1e-3
    d = _dets([0.9, 0.8], [[0, 0, 1, 1], [s, 0, 1 + s, 1]])
    assert len(pd.weighted_nms(d).scores) == 2
    assert len(pd.weighted_nms(_dets([0.9, 0.8], [[0, 0, 1, 1], [0.5, 0, 1.5, 1]])).scores) == 1
    assert len(pd.weighted_nms(pd.empty()).scores) == 0


def test_letterbox_centres_the_frame_and_its_inverse_undoes_it():
    lb = pd.letterbox(1280, 720)
    assert lb.padding == pytest.approx((0, 0.21875, 0, 0.21875))
    assert np.allclose(lb.matrix, [[0.175, 0, 0], [0, 0.175, 49]])
    # a frame point -> input pixels -> normalised input -> back to the frame
    x, y = 1000.0, 100.0
    u, v = lb.matrix.dot([x, y, 1.0]) / 224.0
    d = pd.remove_letterbox(_dets([1.0], [[u, v, u, v]]), lb.padding)
    assert np.allclose(d.boxes[0, :2], [x / 1280, y / 720], atol=1e-6)
    assert pd.letterbox(480, 640).padding == pytest.approx((0.125, 0, 0.125, 0))
    with pytest.raises(ValueError, match="positive"):
        pd.letterbox(0, 10)


def test_detect_chains_decode_nms_and_letterbox():
    anchors = pd.ssd_anchors()
    boxes, logits = _raw(100, 4.0)
    lb = pd.letterbox(640, 480)
    out = pd.detect(boxes, logits, anchors, lb.padding)
    raw = pd.decode(boxes, logits, anchors)
    assert np.allclose(out.boxes, pd.remove_letterbox(raw, lb.padding).boxes)


def test_roi_of_a_standing_person_is_upright_and_scaled():
    # hip centre at (0.5, 0.6), size point straight above it by 100 px in a 400x300 frame
    kps = np.array([[0.5, 0.6], [0.5, 0.6 - 100 / 300.0], [0, 0], [0, 0]])
    roi = pr.detection_roi(kps, 400, 300)
    assert roi.rotation == pytest.approx(0.0, abs=1e-9)
    assert (roi.x_center, roi.y_center) == pytest.approx((0.5, 0.6))
    assert roi.width * 400 == pytest.approx(250.0) and roi.height * 300 == pytest.approx(250.0)
    # lying with the head to the right: the size point is to the right of the centre
    kps[1] = [0.5 + 100 / 400.0, 0.6]
    assert pr.detection_roi(kps, 400, 300).rotation == pytest.approx(math.pi / 2)


def test_crop_transform_maps_the_roi_corners_onto_the_crop():
    roi = pr.Roi(0.4, 0.55, 0.5, 0.6, 0.3)
    m, padding = pr.crop_transform(roi, 640, 480, 256, 256)
    # the ROI is 320x288 px: keep_aspect_ratio pads it vertically to 320x320
    assert padding == pytest.approx((0, (1 - 288 / 320) / 2, 0, (1 - 288 / 320) / 2))
    c, s = math.cos(0.3), math.sin(0.3)
    centre = np.array([0.4 * 640, 0.55 * 480])
    for (u, v), (du, dv) in (((0, 0), (-160, -160)), ((256, 256), (160, 160))):
        p = centre + [c * du - s * dv, s * du + c * dv]
        q = m.dot([p[0], p[1], 1.0])
        assert np.allclose(q[:2] / q[2], [u, v], atol=1e-3)
    # and the paste-back matrix is the same mapping (frame pixel -> crop pixel)
    paste = pr.crop_to_frame_matrix(roi, 640, 480, 256, 256)
    assert np.allclose(paste, (m / m[2, 2])[:2], atol=1e-4)


def test_landmarks_go_back_to_the_frame_through_the_roi():
    roi = pr.Roi(0.5, 0.5, 0.4, 0.3, math.pi / 2)
    lms = np.array([[0.5, 0.5, 0.1, 1, 1], [1.0, 0.5, 0.0, 1, 1]], np.float32)
    out = pr.project_landmarks(lms, roi)
    assert np.allclose(out[0, :3], [0.5, 0.5, 0.04])       # the centre stays; z scales by width
    assert np.allclose(out[1, :2], [0.5, 0.5 + 0.5 * 0.3])  # crop right -> frame down at 90 deg
    assert np.allclose(out[:, 3:], 1)


def test_decode_landmarks_normalises_and_squashes():
    raw = np.zeros((39, 5), np.float32)
    raw[0] = [128, 64, -25.6, 0, 100]
    out = pr.decode_landmarks(raw)
    assert np.allclose(out[0], [0.5, 0.25, -0.1, 0.5, 1.0])


def test_heatmap_refinement_moves_to_the_confident_peak_only():
    hm = np.full((2, 64, 64), -20.0, np.float32)
    hm[0, 30, 20] = 5.0                       # a sharp peak near the first point
    hm[1, 10, 10] = -0.1                      # below the 0.5 confidence: no refinement
    xy = np.array([[20.9 / 64, 28.2 / 64], [10.5 / 64, 10.5 / 64]], np.float32)
    out = pr.refine_from_heatmap(xy, hm)
    assert np.allclose(out[0], [20 / 64, 30 / 64], atol=1e-4)
    assert np.allclose(out[1], xy[1])
    outside = pr.refine_from_heatmap(np.array([[-0.1, 0.5]], np.float32), hm[:1])
    assert np.allclose(outside, [[-0.1, 0.5]])


def test_mask_to_frame_fills_the_roi_and_leaves_the_rest_zero():
    roi = pr.Roi(0.5, 0.5, 0.25, 0.5, 0.0)   # 100 x 100 px in a 400 x 200 frame
    out = pr.mask_to_frame(np.ones((256, 256), np.float32), roi, 400, 200)
    assert out.shape == (200, 400) and out.dtype == np.float32
    assert out[100, 200] == 1.0 and out[60, 160] == 1.0
    assert out[100, 140] == 0.0 and out[20, 200] == 0.0
    assert abs(out.sum() - 100 * 100) < 2 * 100


def _plain_sigmoid(x):
    z = np.clip(np.asarray(x, np.float32), -88.0, 88.0)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def test_sigmoid_gives_the_plain_formulas_numbers_to_the_bit():
    rng = np.random.RandomState(5)
    x = np.concatenate([rng.standard_normal(5000) * s for s in (1, 10, 100, 1000)])
    x = np.concatenate([x, [np.nan, np.inf, -np.inf, 88.5, -88.5, 0.0]]).astype(np.float32)
    got, want = pr.sigmoid(x), _plain_sigmoid(x)
    assert got.dtype == np.float32 and got is not x
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    window = x[:81].reshape(9, 9)
    before = window.copy()
    pr.sigmoid(window[2:7, 1:8])  # a view: its values stay
    assert np.array_equal(window, before)


def _refine_reference(xy, heatmap, kernel=pr.HEATMAP_KERNEL,
                      min_confidence=pr.HEATMAP_MIN_CONFIDENCE):
    """refine_from_heatmap written plainly: the plain sigmoid of each window, np.arange
    indices."""
    out = np.array(xy, np.float32, copy=True)
    _, hm_h, hm_w = heatmap.shape
    half = (kernel - 1) // 2
    for k in range(len(out)):
        col = int(np.float32(out[k, 0]) * np.float32(hm_w))
        row = int(np.float32(out[k, 1]) * np.float32(hm_h))
        if col < 0 or col >= hm_w or row < 0 or row >= hm_h:
            continue
        r0, r1 = max(0, row - half), min(hm_h, row + half + 1)
        c0, c1 = max(0, col - half), min(hm_w, col + half + 1)
        conf = _plain_sigmoid(heatmap[k, r0:r1, c0:c1])
        total = conf.sum(dtype=np.float32)
        if conf.max() >= min_confidence and total > 0:
            cols, rows = np.arange(c0, c1), np.arange(r0, r1)[:, None]
            out[k, 0] = (cols * conf).sum(dtype=np.float32) / np.float32(hm_w) / total
            out[k, 1] = (rows * conf).sum(dtype=np.float32) / np.float32(hm_h) / total
    return out


def test_heatmap_refinement_gives_the_plain_sigmoid_windows_numbers_to_the_bit():
    rng = np.random.RandomState(3)
    for i in range(2000):
        hm = (rng.standard_normal((2, 64, 64)) * rng.choice([1, 5, 50, 200])
              + rng.uniform(-10, 10)).astype(np.float32)
        if i % 40 == 0:
            hm[0, rng.randint(64), rng.randint(64)] = np.nan
        xy = rng.uniform(-0.1, 1.1, (2, 2)).astype(np.float32)
        got, want = pr.refine_from_heatmap(xy, hm), _refine_reference(xy, hm)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def one_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The IoU of one box with each of `boxes`, one box at a time (as the NMS once did)."""
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    union = ((box[2] - box[0]) * (box[3] - box[1])
             + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def test_the_iou_matrix_is_iou_row_by_row_to_the_bit():
    # weighted_nms reads its overlaps from it: the same numbers as one_iou() of each box, on
    # boxes overlapping, apart, of negative and of zero size
    rng = np.random.RandomState(4)
    for n in (1, 2, 7, 30):
        c = rng.uniform(0, 1, (n, 2))
        s = rng.uniform(0.001, 0.3, (n, 2)) * rng.choice([1, 1, -0.2], (n, 1))
        boxes = np.concatenate([c - s, c + s], 1).astype(np.float32)
        boxes[0, 2] = boxes[0, 0]
        m = pd.iou_matrix(boxes)
        for i in range(n):
            assert np.array_equal(m[i].view(np.uint32), one_iou(boxes[i], boxes).view(np.uint32))
