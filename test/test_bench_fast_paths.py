"""The hand-made fast paths of the per-frame code give what the plain OpenCV calls they
replace give: the 2x alpha upscale, the chroma-pair repeat, the separable box mean and the
work on the box of non-zero alpha only."""
import cv2
import numpy as np
import pytest

from utils.composite import repeat_pairs
from utils.upsample import Upsampler, half_box, resize_box


def exact_upscale2(src):
    """Bilinear 2x in float64, centres aligned, edges replicated (cv2.resize's geometry)."""
    p = np.pad(src.astype(np.float64), 1, mode="edge")
    h, w = src.shape
    wide = np.empty((h + 2, 2 * w))
    wide[:, 0::2] = 0.75 * p[:, 1:-1] + 0.25 * p[:, :-2]
    wide[:, 1::2] = 0.75 * p[:, 1:-1] + 0.25 * p[:, 2:]
    out = np.empty((2 * h, 2 * w))
    out[0::2] = 0.75 * wide[1:-1] + 0.25 * wide[:-2]
    out[1::2] = 0.75 * wide[1:-1] + 0.25 * wide[2:]
    return out


@pytest.mark.parametrize("h,w", [(360, 640), (7, 5), (1, 1), (2, 9)])
def test_upscale2_is_bilinear_within_one_level(h, w):
    src = np.random.default_rng(h * w).integers(0, 256, (h, w), dtype=np.uint8)
    out = np.zeros((2 * h, 2 * w), np.uint8)
    got = Upsampler("guided_half")._upscale2(src, out)
    assert got is out
    assert np.abs(out - exact_upscale2(src)).max() <= 1.0
    ref = cv2.resize(src, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    assert np.abs(out.astype(int) - ref).max() <= 1


def test_upscale2_keeps_flat_areas_and_edges_exact():
    src = np.zeros((20, 30), np.uint8)
    src[:, 15:] = 255
    out = Upsampler("guided_half")._upscale2(src, np.empty((40, 60), np.uint8))
    assert (out[:, :29] == 0).all() and (out[:, 31:] == 255).all()
    assert list(out[0, 28:32]) == [0, 64, 191, 255]  # 1/4 and 3/4 of the step, rounded


def test_repeat_pairs_writes_each_value_for_v_and_u():
    half = np.random.default_rng(0).integers(0, 256, (6, 5), dtype=np.uint8)
    out = np.zeros((6, 10), np.uint8)
    assert repeat_pairs(half, out) is out
    np.testing.assert_array_equal(out, np.repeat(half, 2, axis=1))
    strided = np.zeros((12, 10), np.uint8)[::2]  # not contiguous: the fallback path
    repeat_pairs(half, strided)
    np.testing.assert_array_equal(strided, np.repeat(half, 2, axis=1))


def test_separable_box_mean_matches_box_filter():
    rng = np.random.default_rng(3)
    alpha = rng.random((36, 64)).astype(np.float32)
    y = rng.integers(0, 256, (36, 64), dtype=np.uint8)
    up = Upsampler("guided", radius=3, eps=1e-3)
    a, b = up.coefficients(alpha, y)
    # the same coefficients with OpenCV's boxFilter, written out
    box = lambda x: cv2.boxFilter(x, -1, (7, 7), borderType=cv2.BORDER_REFLECT)  # noqa: E731
    I = y.astype(np.float32) / 255
    mI, mp = box(I), box(alpha)
    var = box(I * I) - mI * mI
    cov = box(I * alpha) - mI * mp
    ra = cov / (var + 1e-3)
    rb = mp - ra * mI
    np.testing.assert_allclose(a, box(ra), atol=2e-4)
    np.testing.assert_allclose(b, box(rb) * 255, atol=0.05)


def test_upscale2_into_a_strided_output_still_writes_it():
    src = np.random.default_rng(5).integers(0, 256, (6, 8), dtype=np.uint8)
    out = np.zeros((24, 16), np.uint8)[::2]  # (12, 16), not contiguous
    Upsampler("guided_half")._upscale2(src, out)
    assert np.abs(out - exact_upscale2(src)).max() <= 1.0


def sparse_alpha(rng, h, w, dtype):
    """0 but for a random box of random values (a person's matte at model or matte size)."""
    a = np.zeros((h, w), dtype)
    x, y = rng.integers(0, w), rng.integers(0, h)
    rw, rh = rng.integers(1, w - x + 1), rng.integers(1, h - y + 1)
    v = rng.random((rh, rw))
    a[y:y + rh, x:x + rw] = v * 255 if dtype == np.uint8 else v
    return a


@pytest.mark.parametrize("small,full,dtype", [
    ((384, 216), (1280, 720), np.uint8), ((288, 216), (640, 480), np.uint8),
    ((384, 216), (1920, 1080), np.uint8), ((384, 216), (854, 480), np.uint8),
    ((256, 144), (288, 216), np.float32), ((256, 144), (384, 216), np.float32),
    ((256, 144), (320, 240), np.float32), ((50, 30), (64, 48), np.uint8)])
def test_resize_box_is_the_whole_resize(small, full, dtype):
    # the bilinear upsampler and the guided filter resize only the box that can be
    # non-zero: pixel for pixel what cv2.resize of the whole gives
    (w, h), (W, H) = small, full
    rng = np.random.default_rng(w * W)
    out = np.empty((H, W), dtype)
    for _ in range(30):
        a = sparse_alpha(rng, h, w, dtype)
        box = resize_box(a, out, cv2.boundingRect((a != 0).astype(np.uint8)))
        np.testing.assert_array_equal(out, cv2.resize(a, (W, H),
                                                      interpolation=cv2.INTER_LINEAR))
        x0, y0, x1, y1 = box
        assert not np.delete(np.delete(out, np.s_[y0:y1], 0), np.s_[x0:x1], 1).any()
    out.fill(7)
    assert resize_box(np.zeros((h, w), dtype), out, (0, 0, 0, 0)) == (0, 0, 0, 0)
    assert not out.any()


def test_half_box_is_the_whole_2x2_mean():
    rng = np.random.default_rng(11)
    full = np.zeros((480, 640), np.uint8)
    half = np.empty((240, 320), np.uint8)
    for x0, y0, x1, y1 in ((0, 0, 640, 480), (13, 7, 401, 300), (1, 1, 3, 3), (600, 0, 640, 9)):
        full.fill(0)
        full[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0))
        half_box(full, half, (x0, y0, x1, y1))
        np.testing.assert_array_equal(half, cv2.resize(full, (320, 240),
                                                       interpolation=cv2.INTER_AREA))


def whole_frame_coefficients(alpha, y, radius, eps):
    """The guided filter's coefficients on the whole picture, op for op as the cropped
    version makes them (the reference it must equal)."""
    k = np.full(2 * radius + 1, 1.0 / (2 * radius + 1), np.float32)
    box = lambda x: cv2.sepFilter2D(x, -1, k, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    I = np.multiply(y, np.float32(1 / 255.0))
    mI, mp, mII, mIp = box(I), box(alpha), box(cv2.multiply(I, I)), box(cv2.multiply(I, alpha))
    var = cv2.addWeighted(cv2.subtract(mII, cv2.multiply(mI, mI)), 1.0, mII, 0.0, eps)
    a = cv2.divide(cv2.subtract(mIp, cv2.multiply(mI, mp)), var)
    b = cv2.subtract(mp, cv2.multiply(a, mI))
    return box(a), cv2.addWeighted(box(b), 255.0, b, 0.0, 0.0)


@pytest.mark.parametrize("h,w", [(144, 256), (36, 64), (144, 250)])
def test_guided_coefficients_on_the_box_are_the_whole_frames(h, w):
    # the guided filter works on the box of non-zero alpha only: the same numbers, bit for
    # bit, as on the whole picture (0 outside the box)
    rng = np.random.default_rng(h + w)
    y = rng.integers(0, 256, (h, w), dtype=np.uint8)
    up = Upsampler("guided", 2, 5e-4)
    for _ in range(25):
        alpha = sparse_alpha(rng, h, w, np.float32)
        a, b = up.coefficients(alpha, y)
        ra, rb = whole_frame_coefficients(alpha, y, 2, 5e-4)
        np.testing.assert_array_equal(a, ra)
        np.testing.assert_array_equal(b, rb)
        y_full = cv2.resize(y, (2 * w, 2 * h))
        out = up.run(alpha, y, y_full, np.empty_like(y_full))
        ref = cv2.add(cv2.multiply(cv2.resize(ra, (2 * w, 2 * h)), y_full, dtype=cv2.CV_32F),
                      cv2.resize(rb, (2 * w, 2 * h)), dtype=cv2.CV_8U)
        np.testing.assert_array_equal(out, ref)


def test_bilinear_upsampler_reusing_its_buffers_is_the_whole_resize():
    # the upsampler zeroes again only what its last run wrote: a run of mattes through the
    # same buffers (some empty, one after a forget()) gives the whole resizes
    rng = np.random.default_rng(8)
    up = Upsampler("bilinear")
    out, half = np.empty((480, 640), np.uint8), np.empty((240, 320), np.uint8)
    for i in range(30):
        a = sparse_alpha(rng, 216, 288, np.float32) if i % 7 != 3 else np.zeros((216, 288),
                                                                                 np.float32)
        if i == 20:
            out.fill(255)
            up.forget()
        up.run(a, None, np.empty((480, 640), np.uint8), out, half)
        a8 = cv2.convertScaleAbs(np.multiply(a, 255.0))
        full = cv2.resize(a8, (640, 480), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(out, full)
        np.testing.assert_array_equal(half, cv2.resize(full, (320, 240),
                                                       interpolation=cv2.INTER_AREA))


def test_bilinear_upsampler_zeroes_another_output_array_whole():
    # the boxes of the last run hold only for the very arrays it wrote: a new output of the
    # same size (here in the memory of the freed one, where the allocator gives it back)
    # is zeroed whole
    up = Upsampler("bilinear")
    a = np.zeros((216, 288), np.float32)
    a[100:120, 100:140] = 0.7
    out = np.empty((480, 640), np.uint8)
    up.run(a, None, out, out)
    del out
    b = np.zeros_like(a)
    b[10:20, 10:40] = 0.9
    for _ in range(3):
        out = np.full((480, 640), 255, np.uint8)
        half = np.full((240, 320), 255, np.uint8)
        up.run(b, None, out, out, half)
        full = cv2.resize(cv2.convertScaleAbs(np.multiply(b, 255.0)), (640, 480),
                          interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(out, full)
        np.testing.assert_array_equal(half, cv2.resize(full, (320, 240),
                                                       interpolation=cv2.INTER_AREA))
        del out, half
