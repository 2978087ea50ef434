"""The hand-made fast paths of the per-frame code give what the plain OpenCV calls they
replace give: the 2x alpha upscale, the chroma-pair repeat and the separable box mean."""
import cv2
import numpy as np
import pytest

from utils.composite import repeat_pairs
from utils.upsample import Upsampler


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
