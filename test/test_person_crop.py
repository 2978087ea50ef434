"""utils/person_crop.py: the person networks' inputs cut by the (simulated) hardware, within
its limits, against MediaPipe's own CPU crop, and the way back (landmarks, mask paste)."""
import math

import cv2
import numpy as np
import pytest

import hilens
from utils import nv21
from utils import person_crop as pc
from utils import person_roi as pr

W, H = 640, 360


def picture(w=W, h=H):
    """A smooth colour picture with some structure (resampling differences stay small)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    bgr = np.stack([128 + 100 * np.sin(x / 15.0), 128 + 100 * np.cos(y / 12.0),
                    128 + 80 * np.sin((x + y) / 21.0)], axis=-1).astype(np.uint8)
    cv2.circle(bgr, (w // 2, h // 2), h // 5, (30, 200, 90), -1)
    return cv2.GaussianBlur(bgr, (0, 0), 1.5)


def bgr_of(frame):
    return cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_NV21)


@pytest.fixture(scope="module")
def pre():
    return hilens.Preprocessor()


def check_hardware_limits(plan, w, h):
    assert plan.x % 2 == plan.y % 2 == plan.w % 2 == plan.h % 2 == 0
    assert 64 <= plan.w <= 1920 and 64 <= plan.h <= 1080
    assert plan.x >= 0 and plan.y >= 0 and plan.x + plan.w <= w and plan.y + plan.h <= h
    assert plan.rw % 2 == plan.rh % 2 == 0 and 64 <= plan.rw <= 1920 and 64 <= plan.rh <= 1080
    assert all(p % 2 == 0 and p >= 0 for p in plan.pad)


# -- the detector's input ---------------------------------------------------------------------

def test_letterbox_keeps_even_borders_and_says_where_the_frame_is():
    plan = pc.plan_letterbox(1280, 720)
    assert (plan.w, plan.h, plan.left, plan.top) == (224, 126, 0, 48)  # 49 rounded to even
    assert plan.padding == pytest.approx((0, 48 / 224.0, 0, 50 / 224.0))
    tall = pc.plan_letterbox(480, 640)
    assert (tall.w, tall.h) == (168, 224) and tall.left % 2 == 0
    with pytest.raises(ValueError, match="positive"):
        pc.plan_letterbox(0, 10)


def test_letterbox_input_is_the_resized_frame_on_black(pre):
    frame = nv21.bgr_to_nv21(picture())
    out = pc.black_square(224)
    plan = pc.plan_letterbox(W, H)
    assert pc.letterbox_input(frame, plan, pre, out) is False
    y, _ = nv21.planes(out)
    small = nv21.resize(frame, plan.w, plan.h)
    np.testing.assert_array_equal(y[plan.top:plan.top + plan.h], nv21.planes(small)[0])
    assert (y[:plan.top] == nv21.BLACK_Y).all() and (y[plan.top + plan.h:] == nv21.BLACK_Y).all()
    vu = nv21.vu_pairs(out)
    assert (vu[:plan.top // 2] == nv21.NEUTRAL_UV).all()
    # a square view filled the input before: the border is black again
    out[:] = 200
    pc.letterbox_input(frame, plan, pre, out)
    assert (nv21.planes(out)[0][:plan.top] == nv21.BLACK_Y).all()


def test_detector_views_are_the_frame_and_squares_of_its_height():
    views = pc.detector_views(1280, 720)
    assert [(v.x, v.y, v.w, v.h) for v in views] == [(0, 0, 1280, 720), (0, 0, 720, 720),
                                                     (280, 0, 720, 720), (560, 0, 720, 720)]
    assert all(v.plan.padding == (0, 0, 0, 0) for v in views[1:])
    assert len(pc.detector_views(640, 480)) == 4  # 4:3 gets the squares too
    assert len(pc.detector_views(600, 500)) == 1  # nearly square: the frame alone
    portrait = pc.detector_views(360, 640)
    assert [(v.x, v.y) for v in portrait[1:]] == [(0, 0), (0, 140), (0, 280)]


def test_view_input_and_view_to_frame_agree(pre):
    frame = nv21.bgr_to_nv21(picture())
    view = pc.detector_views(W, H)[3]  # the right square
    out = pc.black_square(224)
    assert pc.view_input(frame, view, pre, out) is False
    ref = cv2.resize(bgr_of(frame)[:, view.x:view.x + view.w], (224, 224))
    assert np.abs(bgr_of(out).astype(int) - ref).mean() < 3
    # the view's centre is the square's centre in the frame
    c = pc.view_to_frame(np.array([[0.5, 0.5]]), view, W, H)[0]
    assert c == pytest.approx([(view.x + view.w / 2.0) / W, 0.5])


# -- the segmenter's input --------------------------------------------------------------------

def test_an_upright_roi_inside_the_frame_is_the_hardware_alone(pre):
    roi = pr.Roi(0.5, 0.5, 200.0 / W, 200.0 / H, 0.05)  # 3 degrees: taken as upright
    plan = pc.plan_crop(roi, W, H)
    check_hardware_limits(plan, W, H)
    assert plan.warp is None and plan.pad == (0, 0, 0, 0) and (plan.rw, plan.rh) == (256, 256)
    assert abs(plan.w - 200) <= 4 and abs(plan.h - 200) <= 4
    frame = nv21.bgr_to_nv21(picture())
    out = pc.black_square(256)
    assert pc.crop_input(frame, plan, pre, out) is False
    crop = pre.crop(frame, plan.x, plan.y, plan.w, plan.h, 0)
    np.testing.assert_array_equal(out, pre.resize(crop, 256, 256, 0))


@pytest.mark.parametrize("roi", [
    pr.Roi(0.5, 0.5, 200.0 / W, 200.0 / H, 0.05),    # a 3 degree lean: cropped upright
    pr.Roi(0.5, 0.9, 250.0 / W, 250.0 / H, 0.0),     # a bust: the ROI leaves at the bottom
    pr.Roi(0.05, 0.5, 220.0 / W, 220.0 / H, 0.0),    # leaves at the left
    pr.Roi(0.45, 0.55, 180.0 / W, 180.0 / H, 0.6),   # leans 34 degrees: turned upright
    pr.Roi(0.9, 0.85, 300.0 / W, 300.0 / H, -1.2),   # turned and out of the frame
    pr.Roi(0.3, 0.4, 40.0 / W, 40.0 / H, 0.0),       # far away: smaller than 64 px
])
def test_crops_match_mediapipes_cpu_crop(pre, roi):
    frame = nv21.bgr_to_nv21(picture())
    plan = pc.plan_crop(roi, W, H)
    check_hardware_limits(plan, W, H)
    out = pc.black_square(256)
    pc.crop_input(frame, plan, pre, out)
    turned = abs(roi.rotation) >= pc.ROTATION_SNAP  # a smaller turn is cropped upright
    upright = roi if turned else roi._replace(rotation=0.0)
    matrix, _ = pr.crop_transform(upright, W, H, 256, 256)
    got = bgr_of(out).astype(np.float64)
    diff = np.abs(got - pr.crop(bgr_of(frame), matrix, 256, 256)).mean()
    # two frame pixels off is clearly worse: the comparison sees a misplaced crop
    off = matrix.dot(np.array([[1.0, 0, -2], [0, 1, 0], [0, 0, 1]]))
    assert diff < 3.8 and diff < np.abs(got - pr.crop(bgr_of(frame), off, 256, 256)).mean()
    # the landmarks' way back: the input's corners land on the ROI's corners
    corners = pc.to_frame(np.array([[0.0, 0.0], [256.0, 256.0]]), plan.to_input)
    c, s = math.cos(upright.rotation), math.sin(upright.rotation)
    half = np.array([roi.width * W, roi.height * H]) / 2.0
    centre = np.array([roi.x_center * W, roi.y_center * H])
    want = [centre + np.array([[c, -s], [s, c]]).dot(sign * half) for sign in (-1, 1)]
    assert np.allclose(corners, want, atol=2.5)


def test_upright_crops_that_leave_the_frame_are_padded_not_warped():
    plan = pc.plan_crop(pr.Roi(0.5, 0.9, 250.0 / W, 250.0 / H, 0.0), W, H)
    assert plan.warp is None and plan.pad[3] > 0 and plan.pad[1] == 0
    turned = pc.plan_crop(pr.Roi(0.5, 0.5, 200.0 / W, 200.0 / H, 0.5), W, H)
    assert turned.warp is not None
    flat = pc.plan_crop(pr.Roi(0.5, 0.5, 200.0 / W, 200.0 / H, 0.5), W, H, rotate=False)
    assert flat.warp is None


def test_an_roi_outside_the_frame_has_no_crop():
    assert pc.plan_crop(pr.Roi(1.6, 0.5, 0.2, 0.3, 0.0), W, H) is None
    assert pc.plan_crop(pr.Roi(0.5, -0.5, 0.2, 0.3, 0.0), W, H) is None


def test_random_rois_always_respect_the_hardware_limits():
    rng = np.random.default_rng(3)
    for _ in range(300):
        w, h = (1280, 720) if rng.random() < 0.5 else (640, 480)
        side = rng.uniform(20, 1500)
        roi = pr.Roi(rng.uniform(-0.2, 1.2), rng.uniform(-0.2, 1.2), side / w, side / h,
                     rng.uniform(-math.pi, math.pi))
        plan = pc.plan_crop(roi, w, h)
        if plan is not None:
            check_hardware_limits(plan, w, h)


class Refusing(object):
    """A Preprocessor that refuses everything (as the device does for a frame over
    1920x1080)."""

    def __init__(self):
        self.calls = 0

    def crop(self, *args):
        self.calls += 1
        raise ValueError("Preprocessor.crop: src is too large")

    def resize(self, *args):
        self.calls += 1
        raise ValueError("Preprocessor.resize: src is too large")


@pytest.mark.parametrize("roi", [pr.Roi(0.5, 0.5, 200.0 / W, 200.0 / H, 0.0),
                                 pr.Roi(0.5, 0.9, 250.0 / W, 250.0 / H, 0.7)])
def test_a_refused_crop_is_made_by_opencv_and_said(pre, roi):
    frame = nv21.bgr_to_nv21(picture())
    plan = pc.plan_crop(roi, W, H)
    hw, sw = pc.black_square(256), pc.black_square(256)
    assert pc.crop_input(frame, plan, pre, hw) is False
    refusing = Refusing()
    assert pc.crop_input(frame, plan, refusing, sw) is True and refusing.calls == 1
    assert np.abs(hw.astype(int) - sw).max() <= 1  # the same resampling, another code path
    det = pc.black_square(224)
    assert pc.letterbox_input(frame, pc.plan_letterbox(W, H), Refusing(), det) is True


# -- back to the frame -------------------------------------------------------------------------

@pytest.mark.parametrize("rotation", [0.0, 0.8])
def test_paste_max_puts_the_mask_where_the_crop_came_from(rotation):
    roi = pr.Roi(0.4, 0.5, 180.0 / W, 180.0 / H, rotation)
    plan = pc.plan_crop(roi, W, H)
    mask = np.zeros((256, 256), np.float32)
    mask[64:192, 64:192] = 1.0  # the middle half of the input
    canvas = np.full((H // 2, W // 2), 0.25, np.float32)  # the matte at half the frame size
    pc.paste_max(mask, plan, W, H, canvas)
    cx, cy = roi.x_center * W / 2, roi.y_center * H / 2
    assert canvas[int(cy), int(cx)] == pytest.approx(1.0)
    assert canvas[0, 0] == 0.25 and canvas[-1, -1] == 0.25  # max: nothing lowered
    inside = (canvas > 0.5).sum()
    assert inside == pytest.approx((90 / 2.0) ** 2, rel=0.15)  # 90 x 90 frame px / 4
    # a mask from a crop of another frame size lands at the same place (scale-free)
    big = np.zeros((H, W), np.float32)
    pc.paste_max(mask, plan, W, H, big)
    assert (big > 0.5).sum() == pytest.approx(90 ** 2, rel=0.1)


@pytest.mark.parametrize("rotation", [0.0, 0.5, -1.2])
def test_paste_max_above_a_floor_covers_the_person_not_the_roi(rotation):
    # a smooth person (a blurred blob in one corner of the input) over haze below the floor:
    # pasted with the floor, the canvas is the full paste's wherever either is above it, and
    # nothing is written far from the person
    roi = pr.Roi(0.5, 0.5, 300.0 / W, 300.0 / H, rotation)
    plan = pc.plan_crop(roi, W, H)
    mask = np.zeros((256, 256), np.float32)
    mask[40:120, 150:210] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), 4.0)
    mask += np.random.RandomState(0).uniform(0.0, 0.15, mask.shape).astype(np.float32)
    full = np.zeros((H // 2, W // 2), np.float32)
    cut = full.copy()
    pc.paste_max(mask, plan, W, H, full, floor=-1.0)  # every value counts: the ROI's box
    pc.paste_max(mask, plan, W, H, cut, floor=0.2)
    above = (full > 0.2) | (cut > 0.2)
    assert above.sum() > 500
    # (the warp's sub-pixel grid starts at another origin: 1/32 pixel of a smooth edge)
    assert np.abs(full - cut)[above].max() < 0.02
    assert (cut > 0).sum() < 0.5 * (full > 0).sum()
    nothing = np.zeros_like(cut)
    pc.paste_max(np.full((256, 256), 0.1, np.float32), plan, W, H, nothing, floor=0.2)
    assert not nothing.any()


def test_paste_max_with_kept_buffers_pastes_as_with_new_ones():
    # one PasteBuffers through pastes of other sizes, rotations and canvases
    buffers = pc.PasteBuffers()
    rng = np.random.RandomState(1)
    for k in range(12):
        roi = pr.Roi(rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(60, 400) / W,
                     rng.uniform(60, 400) / H, rng.uniform(-1.5, 1.5) * (k % 2))
        plan = pc.plan_crop(roi, W, H)
        mask = cv2.GaussianBlur(rng.uniform(0, 1, (256, 256)).astype(np.float32), (0, 0), 6.0)
        shape = (H // 2, W // 2) if k % 3 else (H, W)
        base = rng.uniform(0, 0.3, shape).astype(np.float32)
        a, b = base.copy(), base.copy()
        box_a = pc.paste_max(mask, plan, W, H, a, 0.4)
        box_b = pc.paste_max(mask, plan, W, H, b, 0.4, buffers)
        assert box_a == box_b and np.array_equal(a, b)


def test_to_frame_inverts_to_input():
    plan = pc.plan_crop(pr.Roi(0.6, 0.4, 150.0 / W, 150.0 / H, -0.4), W, H)
    pts = np.array([[10.0, 20.0], [300.0, 100.0]])
    m = plan.to_input
    back = pc.to_frame(pts.dot(m[:, :2].T) + m[:, 2], m)
    assert np.allclose(back, pts)


def test_the_float_maps_are_opencvs_and_numpys():
    # plans and pastes do their 2x3 map arithmetic on Python floats: the inverse is
    # cv2.invertAffineTransform's to the bit, the product numpy's to rounding
    rng = np.random.default_rng(4)
    for _ in range(200):
        a, b = rng.normal(size=(2, 3)) * 50, rng.normal(size=(2, 3)) * 50
        inv = pc._inverse6(tuple(a.ravel()))
        np.testing.assert_array_equal(np.reshape(inv, (2, 3)), cv2.invertAffineTransform(a))
        a_after_b = a[:, :2].dot(b) + np.hstack([np.zeros((2, 2)), a[:, 2:]])
        np.testing.assert_allclose(np.reshape(pc._compose6(tuple(a.ravel()), tuple(b.ravel())),
                                              (2, 3)), a_after_b, rtol=1e-12, atol=1e-9)
        m6 = pc._roi_to_frame6(pr.Roi(*rng.uniform(0.1, 0.9, 4), rng.uniform(-3, 3)), 640, 480,
                               256)
        corners = np.array([[0, 0, 1], [256, 0, 1], [0, 256, 1], [256, 256, 1]]).dot(
            np.reshape(m6, (2, 3)).T)
        assert pc._bounds6(m6, 256) == (corners[:, 0].min(), corners[:, 1].min(),
                                        corners[:, 0].max(), corners[:, 1].max())
