"""hilens.cvt_color and hilens.Preprocessor: NV21/NV12 layout, colour accuracy, argument checks."""
import cv2
import numpy as np
import pytest

import hilens
from hilens import nv21

# (code, input is BGR, OpenCV decoder back to the same RGB/BGR order)
CODES = [
    (hilens.RGB2YUV_NV12, False, cv2.COLOR_YUV2RGB_NV12),
    (hilens.RGB2YUV_NV21, False, cv2.COLOR_YUV2RGB_NV21),
    (hilens.BGR2YUV_NV12, True, cv2.COLOR_YUV2BGR_NV12),
    (hilens.BGR2YUV_NV21, True, cv2.COLOR_YUV2BGR_NV21),
]


def block_image(h, w, seed=0):
    """Random colours constant over each 2x2 block, so 4:2:0 subsampling loses nothing."""
    rng = np.random.default_rng(seed)
    half = rng.integers(0, 256, (h // 2, w // 2, 3), dtype=np.uint8)
    return np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)


def nv21_frame(h, w, seed=0):
    return hilens.cvt_color(block_image(h, w, seed), hilens.BGR2YUV_NV21)


@pytest.mark.parametrize("code,is_bgr,decode", CODES)
def test_cvt_color_round_trip_through_opencv_within_2_levels(code, is_bgr, decode):
    img = block_image(96, 160)
    out = hilens.cvt_color(img, code)
    assert out.dtype == np.uint8 and out.shape == (144, 160)
    back = cv2.cvtColor(out, decode)
    assert np.abs(back.astype(int) - img).max() <= 2


@pytest.mark.parametrize("code,is_bgr,decode", CODES)
def test_cvt_color_matches_float_bt601_narrow(code, is_bgr, decode):
    img = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    rgb = (img[..., ::-1] if is_bgr else img).astype(np.float64)
    # Independent BT.601 studio-swing formulas (ITU-R BT.601, 8-bit).
    y = 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255
    mean = rgb.reshape(32, 2, 48, 2, 3).mean(axis=(1, 3))  # 2x2 block average
    u = 128 + (-37.797 * mean[..., 0] - 74.203 * mean[..., 1] + 112.0 * mean[..., 2]) / 255
    v = 128 + (112.0 * mean[..., 0] - 93.786 * mean[..., 1] - 18.214 * mean[..., 2]) / 255
    out = hilens.cvt_color(img, code).astype(np.float64)
    assert np.abs(out[:64] - y).max() <= 1.0
    first, second = (v, u) if code in (hilens.RGB2YUV_NV21, hilens.BGR2YUV_NV21) else (u, v)
    assert np.abs(out[64:, 0::2] - first).max() <= 1.0
    assert np.abs(out[64:, 1::2] - second).max() <= 1.0
    # Luma agrees with OpenCV's own BT.601 I420 conversion.
    i420 = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420 if is_bgr else cv2.COLOR_RGB2YUV_I420)
    assert np.abs(i420[:64].astype(int) - out[:64]).max() <= 1


def test_cvt_color_nv12_and_nv21_differ_only_in_chroma_order():
    img = block_image(32, 64, seed=3)
    a = hilens.cvt_color(img, hilens.BGR2YUV_NV21)
    b = hilens.cvt_color(img, hilens.BGR2YUV_NV12)
    assert np.array_equal(a[:32], b[:32])
    assert np.array_equal(a[32:, 0::2], b[32:, 1::2]) and np.array_equal(a[32:, 1::2], b[32:, 0::2])
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("src,code,name", [
    (np.zeros((64, 63, 3), np.uint8), hilens.BGR2YUV_NV21, "src"),
    (np.zeros((63, 64, 3), np.uint8), hilens.BGR2YUV_NV21, "src"),
    (np.zeros((64, 64, 3), np.float32), hilens.BGR2YUV_NV21, "src"),
    (np.zeros((64, 64), np.uint8), hilens.BGR2YUV_NV21, "src"),
    (np.zeros((64, 64, 4), np.uint8), hilens.BGR2YUV_NV21, "src"),
    (np.zeros((0, 64, 3), np.uint8), hilens.BGR2YUV_NV21, "src"),
    ([[1, 2, 3]], hilens.BGR2YUV_NV21, "src"),
    (np.zeros((64, 64, 3), np.uint8), 7, "code"),
    (np.zeros((64, 64, 3), np.uint8), True, "code"),
    (np.zeros((64, 64, 3), np.uint8), cv2.COLOR_BGR2YUV_I420, "code"),
])
def test_cvt_color_bad_arguments_raise_value_error_naming_them(src, code, name):
    with pytest.raises(ValueError, match=name):
        hilens.cvt_color(src, code)


# ----------------------------------------------------------------------------- Preprocessor

def test_resize_output_layout_and_colour():
    src = nv21_frame(720, 1280)
    p = hilens.Preprocessor()
    out = p.resize(src, 256, 144, 0)
    assert out.dtype == np.uint8 and out.shape == (216, 256)
    # A flat colour stays that colour through the scaler, in both output orders.
    flat = hilens.cvt_color(np.full((720, 1280, 3), (30, 160, 220), np.uint8), hilens.BGR2YUV_NV21)
    nv21_out = p.resize(flat, 320, 180, 0)
    nv12_out = p.resize(flat, 320, 180, 1)
    assert np.array_equal(nv21_out[:180], np.full((180, 320), flat[0, 0]))
    assert np.array_equal(nv21_out[180:, 0::2], np.full((90, 160), flat[720, 0]))  # V
    assert np.array_equal(nv12_out[180:, 0::2], np.full((90, 160), flat[720, 1]))  # U first in NV12
    back = cv2.cvtColor(nv12_out, cv2.COLOR_YUV2BGR_NV12)
    assert np.abs(back.astype(int) - (30, 160, 220)).max() <= 2


def test_resize_of_a_smooth_picture_matches_resizing_the_decoded_picture():
    yy, xx = np.mgrid[0:480, 0:640]
    img = np.dstack([xx * 255 // 639, yy * 255 // 479, (xx + yy) * 255 // 1118]).astype(np.uint8)
    src = hilens.cvt_color(img, hilens.BGR2YUV_NV21)
    out = hilens.Preprocessor().resize(src, 320, 240, 0)
    expect = cv2.resize(img, (320, 240), interpolation=cv2.INTER_LINEAR)
    got = cv2.cvtColor(out, cv2.COLOR_YUV2BGR_NV21)
    assert np.abs(got.astype(int) - expect).max() <= 3


def test_crop_is_exactly_the_region_in_both_orders():
    src = nv21_frame(180, 320, seed=5)
    p = hilens.Preprocessor()
    full = cv2.cvtColor(src, cv2.COLOR_YUV2BGR_NV21)
    out = p.crop(src, 10, 20, 64, 96, 0)
    assert out.shape == (144, 64)
    assert np.array_equal(cv2.cvtColor(out, cv2.COLOR_YUV2BGR_NV21), full[20:116, 10:74])
    out12 = p.crop(src, 10, 20, 64, 96, 1)
    assert np.array_equal(cv2.cvtColor(out12, cv2.COLOR_YUV2BGR_NV12), full[20:116, 10:74])


GOOD = nv21_frame(180, 320)
@pytest.mark.parametrize("args,name", [
    ((GOOD.astype(np.float32), 128, 128, 0), "src"),
    ((GOOD[:, :, None], 128, 128, 0), "src"),
    ((np.zeros((181, 320), np.uint8), 128, 128, 0), "src"),  # rows not H*3/2
    ((np.zeros((93, 64), np.uint8), 128, 128, 0), "src"),  # H = 62 < 64
    ((np.zeros((96, 62), np.uint8), 128, 128, 0), "src"),  # W = 62 < 64
    ((np.zeros((96, 1922), np.uint8), 128, 128, 0), "src"),  # W > 1920
    ((np.zeros((1623, 640), np.uint8), 128, 128, 0), "src"),  # H = 1082 > 1080
    ((GOOD, 129, 128, 0), "w"),
    ((GOOD, 62, 128, 0), "w"),
    ((GOOD, 1922, 128, 0), "w"),
    ((GOOD, 128.0, 128, 0), "w"),
    ((GOOD, True, 128, 0), "w"),
    ((GOOD, 128, 127, 0), "h"),
    ((GOOD, 128, 1082, 0), "h"),
    ((GOOD, 128, 62, 0), "h"),
    ((GOOD, 128, 128, 2), "t"),
    ((GOOD, 128, 128, -1), "t"),
])
def test_resize_bad_arguments_raise_value_error_naming_them(args, name):
    with pytest.raises(ValueError, match=r"\b%s\b" % name):
        hilens.Preprocessor().resize(*args)


@pytest.mark.parametrize("args,name", [
    ((GOOD, 1, 0, 64, 64, 0), "x"),
    ((GOOD, -2, 0, 64, 64, 0), "x"),
    ((GOOD, 1922, 0, 64, 64, 0), "x"),
    ((GOOD, 0, 3, 64, 64, 0), "y"),
    ((GOOD, 0, 1082, 64, 64, 0), "y"),
    ((GOOD, 0, 0, 63, 64, 0), "w"),
    ((GOOD, 0, 0, 62, 64, 0), "w"),
    ((GOOD, 0, 0, 64, 66.0, 0), "h"),
    ((GOOD, 0, 0, 64, 64, 3), "t"),
    ((GOOD, 300, 0, 64, 64, 0), "region"),  # 300 + 64 > 320
    ((GOOD, 0, 120, 64, 64, 0), "region"),  # 120 + 64 > 180
    ((np.zeros((180, 320, 3), np.uint8), 0, 0, 64, 64, 0), "src"),
])
def test_crop_bad_arguments_raise_value_error_naming_them(args, name):
    with pytest.raises(ValueError, match=r"\b%s\b" % name):
        hilens.Preprocessor().crop(*args)


def test_frame_size_helper_rejects_odd_and_non_nv21():
    assert nv21.frame_size(GOOD, "f") == (320, 180)
    with pytest.raises(ValueError, match="even"):
        nv21.frame_size(np.zeros((99, 128), np.uint8)[:, :127], "f")
    with pytest.raises(ValueError, match="cvt_color"):
        nv21.frame_size(np.zeros((10, 10, 3), np.uint8), "f")
