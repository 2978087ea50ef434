"""AIPP: aipp.cfg parsing and the chip's pipeline, checked against independent numpy maths and
against OpenCV's BT.601 NV21 decoder."""
import os

import cv2
import numpy as np
import pytest

from hilens import aipp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_AIPP = os.path.join(REPO, "aipp.cfg")


def legal_nv21(h, w, seed=0):
    """Random NV21 inside the BT.601 legal range (Y 16..235, U/V 16..240)."""
    rng = np.random.default_rng(seed)
    frame = np.empty((h * 3 // 2, w), np.uint8)
    frame[:h] = rng.integers(16, 236, (h, w))
    frame[h:] = rng.integers(16, 241, (h // 2, w))
    return frame


def reference(frame, h, w, cfg):
    """The documented AIPP maths written out directly (float64, no shared code with hilens.aipp):
    crop, swap, YUV444 by repeating chroma, CSC with floor(x / 256), saturation, normalisation,
    padding."""
    y = frame[:h].astype(np.int64)
    vu = frame[h:].reshape(h // 2, w // 2, 2).astype(np.int64)
    first = np.kron(vu[..., 0], np.ones((2, 2), np.int64))
    second = np.kron(vu[..., 1], np.ones((2, 2), np.int64))
    u, v = (second, first) if cfg.get("rbuv_swap_switch") else (first, second)
    if cfg.get("crop"):
        x0, y0, cw, ch = cfg["load_start_pos_w"], cfg["load_start_pos_h"], cfg["crop_size_w"], cfg["crop_size_h"]
        y, u, v = (p[y0:y0 + ch, x0:x0 + cw] for p in (y, u, v))
    yuv = np.stack([y, u, v])  # (3, H, W)
    if cfg.get("csc_switch"):
        m = np.array(cfg["matrix"], np.int64)
        bias = np.array(cfg.get("input_bias", (0, 0, 0)), np.int64)[:, None, None]
        pix = np.floor_divide(np.einsum("ck,khw->chw", m, yuv - bias), 256)
        pix = np.clip(pix + np.array(cfg.get("output_bias", (0, 0, 0)))[:, None, None], 0, 255)
    else:
        pix = yuv
    mean = np.array(cfg.get("mean", (0, 0, 0)), np.float64)[:, None, None]
    mn = np.array(cfg.get("min", (0, 0, 0)), np.float64)[:, None, None]
    var = np.array(cfg.get("var", (1, 1, 1)), np.float64)[:, None, None]
    out = (pix - mean - mn) * var
    if cfg.get("padding"):
        t, b, l, r = cfg["pad"]
        out = np.pad(out, ((0, 0), (t, b), (l, r)), constant_values=cfg.get("padding_value", 0.0))
    return out[None]


BT601 = {"csc_switch": True, "rbuv_swap_switch": True, "input_bias": (16, 128, 128),
         "matrix": ((298, 0, 409), (298, -100, -208), (298, 516, 0)), "var": (1 / 255,) * 3}


def test_repo_aipp_cfg_is_parsed():
    (cfg,) = aipp.load_aipp_file(REPO_AIPP)
    assert cfg.input_format == "YUV420SP_U8" and cfg.aipp_mode == "static"
    assert (cfg.src_image_size_w, cfg.src_image_size_h) == (256, 144)
    assert cfg.rbuv_swap_switch and cfg.csc_switch and not cfg.crop and not cfg.padding
    assert cfg.matrix == ((298, 0, 409), (298, -100, -208), (298, 516, 0))
    assert cfg.input_bias == (16, 128, 128) and cfg.related_input_rank == 0
    assert cfg.var_reci_chn[:3] == pytest.approx((1 / 255,) * 3)
    op = aipp.AippOp(cfg, (1, 3, 144, 256))
    assert op.input_bytes == 256 * 144 * 3 // 2


def test_repo_aipp_matches_numpy_reference_and_opencv_bt601():
    op = aipp.AippOp(aipp.load_aipp_file(REPO_AIPP)[0], (1, 3, 144, 256))
    for seed in range(3):
        frame = legal_nv21(144, 256, seed)
        out = op.apply(frame)
        assert out.dtype == np.float32 and out.shape == (1, 3, 144, 256)
        np.testing.assert_allclose(out, reference(frame, 144, 256, BT601), rtol=0, atol=1e-6)
        rgb = cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_NV21).astype(np.float64)
        # >> 8 floors where OpenCV rounds: at most one level apart over the legal range.
        assert np.abs(out[0].transpose(1, 2, 0) * 255 - rgb).max() <= 1.0 + 1e-4


def test_out_of_range_csc_results_saturate():
    cfg = aipp.load_aipp_file(REPO_AIPP)[0]
    op = aipp.AippOp(cfg, (1, 3, 144, 256))
    frame = np.zeros((216, 256), np.uint8)
    frame[:144] = 255
    frame[144:] = 255  # V = U = 255: R and B far above 255, G below 0 before saturation
    out = op.apply(frame) * 255
    assert out.max() == pytest.approx(255) and out.min() >= 0
    np.testing.assert_allclose(out, reference(frame, 144, 256, BT601) * 255, atol=1e-4)


def write_cfg(tmp_path, body, name="aipp.cfg"):
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def test_crop_swap_csc_mean_min_var_padding_against_reference(tmp_path):
    body = """
    # every knob at once; NV12 this time (no swap)
    aipp_op: {
        aipp_mode : static, related_input_rank: 1
        input_format : "YUV420SP_U8"
        src_image_size_w: 64; src_image_size_h: 48
        crop: true
        load_start_pos_w: 8
        load_start_pos_h: 4
        crop_size_w: 40
        crop_size_h: 30
        csc_switch: 1
        matrix_r0c0: 256  matrix_r0c1: 0     matrix_r0c2: 359
        matrix_r1c0: 256  matrix_r1c1: -88   matrix_r1c2: -183
        matrix_r2c0: 256  matrix_r2c1: 454   matrix_r2c2: 0
        input_bias_0: 0  input_bias_1: 128  input_bias_2: 128
        output_bias_0: 3 output_bias_1: 0   output_bias_2: 1
        mean_chn_0: 10 mean_chn_1: 20 mean_chn_2: 30
        min_chn_0: 0.5 min_chn_1: 1.5e0 min_chn_2: 2.5f
        var_reci_chn_0: 0.0171 var_reci_chn_1: 0.0175 var_reci_chn_2: 1.7429e-2
        padding: true
        top_padding_size: 2 bottom_padding_size: 0 left_padding_size: 4 right_padding_size: 4
        padding_value: -1.0
    }
    """
    (cfg,) = aipp.load_aipp_file(write_cfg(tmp_path, body))
    assert cfg.related_input_rank == 1
    op = aipp.AippOp(cfg, (1, 3, 32, 48))
    frame = np.random.default_rng(7).integers(0, 256, (72, 64), dtype=np.uint8)
    expected = reference(frame, 48, 64, {
        "crop": True, "load_start_pos_w": 8, "load_start_pos_h": 4, "crop_size_w": 40, "crop_size_h": 30,
        "csc_switch": True, "matrix": ((256, 0, 359), (256, -88, -183), (256, 454, 0)),
        "input_bias": (0, 128, 128), "output_bias": (3, 0, 1), "mean": (10, 20, 30), "min": (0.5, 1.5, 2.5),
        "var": (0.0171, 0.0175, 0.017429), "padding": True, "pad": (2, 0, 4, 4), "padding_value": -1.0})
    np.testing.assert_allclose(op.apply(frame), expected, rtol=1e-6, atol=1e-5)


def test_yuv420sp_without_csc_gives_yuv444():
    cfg = aipp.AippConfig(input_format="YUV420SP_U8", rbuv_swap_switch=True)
    op = aipp.AippOp(cfg, (1, 3, 16, 32))
    frame = legal_nv21(16, 32, seed=2)
    out = op.apply(frame)
    np.testing.assert_array_equal(out, reference(frame, 16, 32, {"rbuv_swap_switch": True}))
    assert out[0, 1, 0, 0] == frame[16, 1] and out[0, 2, 0, 0] == frame[16, 0]  # U, V of NV21


def test_rgb888_with_swap_and_normalisation():
    cfg = aipp.AippConfig(input_format="RGB888_U8", rbuv_swap_switch=True, mean_chn=(1, 2, 3, 0),
                          min_chn=(0.5, 0.25, 0.0, 0.0), var_reci_chn=(2.0, 0.5, 0.25, 1.0))
    op = aipp.AippOp(cfg, (1, 3, 8, 12))
    bgr = np.random.default_rng(3).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    out = op.apply(bgr)
    rgb = bgr[..., ::-1].transpose(2, 0, 1).astype(np.float64)
    expected = (rgb - np.array([1, 2, 3])[:, None, None] - np.array([0.5, 0.25, 0])[:, None, None]) \
        * np.array([2.0, 0.5, 0.25])[:, None, None]
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)
    assert op.input_bytes == 8 * 12 * 3


def test_yuv400_and_xrgb():
    op = aipp.AippOp(aipp.AippConfig(input_format="YUV400_U8", var_reci_chn=(0.5, 1, 1, 1)), (1, 1, 6, 8))
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    np.testing.assert_array_equal(op.apply(gray)[0, 0], gray * 0.5)
    op = aipp.AippOp(aipp.AippConfig(input_format="XRGB8888_U8", ax_swap_switch=True), (1, 3, 2, 2))
    xrgb = np.arange(16, dtype=np.uint8).reshape(2, 2, 4)
    np.testing.assert_array_equal(op.apply(xrgb)[0], xrgb[..., 1:].transpose(2, 0, 1))


def test_batch_of_two_pictures():
    op = aipp.AippOp(aipp.load_aipp_file(REPO_AIPP)[0], (2, 3, 144, 256))
    a, b = legal_nv21(144, 256, 4), legal_nv21(144, 256, 5)
    out = op.apply(np.concatenate([a.ravel(), b.ravel()]))
    np.testing.assert_allclose(out[1:], reference(b, 144, 256, BT601), atol=1e-6)
    np.testing.assert_allclose(out[:1], reference(a, 144, 256, BT601), atol=1e-6)


def test_src_size_zero_takes_the_model_size():
    op = aipp.AippOp(aipp.AippConfig(input_format="YUV420SP_U8"), (1, 3, 20, 30))
    assert (op.src_w, op.src_h, op.input_bytes) == (30, 20, 900)


@pytest.mark.parametrize("body,word", [
    ("aipp_op { input_format: YUV420SP_U8 colour_space: 3 }", "colour_space"),
    ("aipp_op { csc_switch: maybe }", "csc_switch"),
    ("aipp_op { src_image_size_w: 1.5 }", "src_image_size_w"),
    ("aipp_op { src_image_size_w: 64 src_image_size_w: 64 }", "twice"),
    ("aipp_op { aipp_mode: dynamic }", "dynamic"),
    ("aipp_op { input_format: NV21 }", "input_format"),
    ("aipp_op { input_format: YUV420SP_U8 load_start_pos_w: 3 }", "load_start_pos_w"),
    ("aipp_op { input_format: YUV400_U8 csc_switch: true }", "csc_switch"),
    ("aipp_op { related_input_rank: 0 } aipp_op { related_input_rank: 0 }", "related_input_rank"),
    ("aipp_op { input_format: YUV420SP_U8 ", "end of file"),
    ("input_format: YUV420SP_U8", "aipp_op"),
    ("", "no aipp_op"),
    ("aipp_op { mean_chn_0 10 }", "':'"),
    ("aipp_op { @ }", "unexpected character"),
])
def test_bad_files_name_the_problem(tmp_path, body, word):
    path = write_cfg(tmp_path, body)
    with pytest.raises(aipp.AippError, match=word) as info:
        aipp.load_aipp_file(path)
    assert "aipp.cfg" in str(info.value)


@pytest.mark.parametrize("cfg,shape,word", [
    (aipp.AippConfig(src_image_size_w=64, src_image_size_h=48), (1, 3, 32, 32), "model input"),
    (aipp.AippConfig(crop=True, load_start_pos_w=40, crop_size_w=32, crop_size_h=32, src_image_size_w=64,
                     src_image_size_h=64), (1, 3, 32, 32), "does not fit"),
    (aipp.AippConfig(input_format="YUV420SP_U8", csc_switch=True), (1, 1, 32, 32), "channel"),
    (aipp.AippConfig(), (3, 32, 32), "NCHW"),
])
def test_aipp_that_does_not_fit_the_model_is_refused(cfg, shape, word):
    with pytest.raises(aipp.AippError, match=word):
        aipp.AippOp(cfg, shape)


def test_wrong_byte_count_is_refused():
    op = aipp.AippOp(aipp.load_aipp_file(REPO_AIPP)[0], (1, 3, 144, 256))
    with pytest.raises(ValueError, match="55296"):
        op.apply(np.zeros(100, np.uint8))


def test_find_aipp_file_prefers_the_model_folder_then_the_skill_root(tmp_path):
    model = tmp_path / "model" / "m.om"
    model.parent.mkdir()
    assert aipp.find_aipp_file(str(model)) is None
    write_cfg(tmp_path, "aipp_op { }")
    assert aipp.find_aipp_file(str(model)) == str(tmp_path / "aipp.cfg")
    write_cfg(tmp_path / "model", "aipp_op { }")
    assert aipp.find_aipp_file(str(model)) == str(tmp_path / "model" / "aipp.cfg")


def test_find_aipp_file_prefers_the_models_own_config(tmp_path):
    """model/x.om uses x.aipp.cfg (beside it, then in the skill root) before any aipp.cfg:
    on the device each .om carries the AIPP it was converted with."""
    model = tmp_path / "model" / "person_detector.om"
    model.parent.mkdir()
    write_cfg(tmp_path, "aipp_op { }")
    write_cfg(tmp_path / "model", "aipp_op { }")
    assert aipp.find_aipp_file(str(model)) == str(tmp_path / "model" / "aipp.cfg")
    (tmp_path / "person_detector.aipp.cfg").write_text("aipp_op { }")
    assert aipp.find_aipp_file(str(model)) == str(tmp_path / "person_detector.aipp.cfg")
    (tmp_path / "model" / "person_detector.aipp.cfg").write_text("aipp_op { }")
    assert aipp.find_aipp_file(str(model)) == str(tmp_path / "model" / "person_detector.aipp.cfg")
    # another model of the same skill is not affected
    assert aipp.find_aipp_file(str(tmp_path / "model" / "matting.om")) == \
        str(tmp_path / "model" / "aipp.cfg")
