"""aipp.cfg turns the camera's NV21 into exactly the input the matting network was trained on.

Two independent AIPP implementations are checked: the simulator's emulation (hilens.aipp, used
by hilens.Model) and a numpy transcription of the documented AIPP maths written here. Both must
match "RGB -> the network's own normalisation (RGB / 255)", the RGB being what the NV21 frame
encodes (OpenCV's own NV21 decoder), within 2/255 per value.

Alpha is compared per frame by its mean difference (<= 0.01) and the share of pixels off by more
than 0.01 (<= 10%), not by the per-pixel maximum: the network's mask edge is so steep (logits of
+-200) that re-rounding the RGB by one grey level already moves single edge pixels by 0.2-0.4,
so no two paths that round differently agree per pixel within 0.01. (Measured on 32 frames:
OpenCV's own integer NV21 decode differs from the exact BT.601 decode in up to 5.7% of the pixels
by more than 0.01 on frames with almost no person; the AIPP path in up to 5.0%.)
"""
import pathlib
import re

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import hilens
from hilens.aipp import AippOp, load_aipp_file
from tools.model.export_caffe import real_frames

ROOT = pathlib.Path(__file__).resolve().parent.parent
AIPP_CFG = ROOT / "aipp.cfg"
ONNX_MODEL = ROOT / "model" / "matting.onnx"


def read_cfg(text):
    """The aipp_op blocks of an aipp.cfg as dicts: a deliberately separate reader (regexes)
    from the simulator's tokenizer."""
    blocks = re.findall(r"aipp_op\s*\{(.*?)\}", re.sub(r"#[^\n]*", "", text), re.S)
    ops = []
    for body in blocks:
        op = {}
        for key, raw in re.findall(r"(\w+)\s*:\s*([^\s,;]+)", body):
            op[key] = {"true": True, "false": False}.get(raw, raw)
        ops.append(op)
    return ops


def numpy_aipp(nv21, op):
    """Documented AIPP on one YUV420SP picture -> float32 (3, H, W): channel swap, chroma
    repeated over its 2x2 block, CSC ((M . (yuv - bias)) >> 8, saturated to 8 bits), then
    (x - mean - min) * var_reci."""
    h, w = nv21.shape[0] * 2 // 3, nv21.shape[1]
    luma = nv21[:h].astype(np.int64)
    pairs = nv21[h:].reshape(h // 2, w // 2, 2).astype(np.int64)
    # YUV420SP_U8 reads each pair as (U, V); the swap switch reads it as (V, U): NV21
    u, v = (pairs[..., 1], pairs[..., 0]) if op["rbuv_swap_switch"] else \
        (pairs[..., 0], pairs[..., 1])
    u = u.repeat(2, 0).repeat(2, 1)
    v = v.repeat(2, 0).repeat(2, 1)
    yuv = np.stack([luma - int(op["input_bias_0"]), u - int(op["input_bias_1"]),
                    v - int(op["input_bias_2"])])
    m = np.array([[int(op["matrix_r%dc%d" % (r, c)]) for c in range(3)] for r in range(3)])
    rgb = np.clip(np.einsum("rc,chw->rhw", m, yuv) >> 8, 0, 255)
    out = np.empty(rgb.shape, np.float32)
    for ch in range(3):
        out[ch] = (rgb[ch] - int(op["mean_chn_%d" % ch]) - float(op["min_chn_%d" % ch])) \
            * float(op["var_reci_chn_%d" % ch])
    return out


ALPHA_MEAN_LIMIT = 0.01
ALPHA_OFF_SHARE_LIMIT = 0.10  # share of pixels with |alpha difference| > 0.01


def alpha_gap(want, got):
    """(mean |difference|, share of pixels off by more than 0.01, max |difference|)."""
    d = np.abs(np.asarray(got, np.float64).reshape(want.shape) - want)
    return float(d.mean()), float((d > 0.01).mean()), float(d.max())


def within_alpha_limits(gap):
    return gap[0] <= ALPHA_MEAN_LIMIT and gap[1] <= ALPHA_OFF_SHARE_LIMIT


@pytest.fixture(scope="module")
def cfg():
    ops = read_cfg(AIPP_CFG.read_text())
    assert len(ops) == 1, "aipp.cfg must hold exactly one aipp_op (input 0 only)"
    return ops[0]


@pytest.fixture(scope="module")
def model_inputs():
    graph = onnx.load(str(ONNX_MODEL)).graph
    return [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in graph.input]


@pytest.fixture(scope="module")
def frames(model_inputs):
    h, w = model_inputs[0][1][2:]
    rgb = real_frames((h, w), count=8, seed=3)
    return [(f, hilens.cvt_color(f, hilens.RGB2YUV_NV21)) for f in rgb]


@pytest.fixture(scope="module")
def session():
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(ONNX_MODEL), opts, providers=["CPUExecutionProvider"])


def test_convert_aipp_cfg_targets_input0_at_model_size(cfg, model_inputs):
    names = [n for n, _ in model_inputs]
    assert names == ["image", "prev_alpha"]
    (_, (n, c, h, w)) = model_inputs[0]
    assert cfg["aipp_mode"] == "static"
    assert int(cfg.get("related_input_rank", 0)) == 0
    assert cfg["input_format"] == "YUV420SP_U8"
    assert cfg["rbuv_swap_switch"] is True, "the camera delivers NV21 (V before U)"
    assert cfg["csc_switch"] is True
    assert (int(cfg["src_image_size_w"]), int(cfg["src_image_size_h"])) == (w, h)
    assert c == 3 and n == 1
    # the simulator binds the same block to input 0 only; prev_alpha stays float32
    model = hilens.Model(str(ROOT / "model" / "matting.om"))
    assert model.inputs[0].aipp is not None and model.inputs[1].aipp is None
    assert model.inputs[0].nbytes == w * h * 3 // 2
    assert model.inputs[1].nbytes == w * h * 4


def test_convert_aipp_csc_is_the_inverse_of_bt601_narrow(cfg):
    # BT.601 studio swing, from its defining constants: Y' = Kr R + Kg G + Kb B scaled to
    # 16..235, chroma scaled to 16..240 around 128.
    kr, kb = 0.299, 0.114
    kg = 1 - kr - kb
    to_yuv = np.array([[kr, kg, kb],
                       [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
                       [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))]])
    to_yuv = to_yuv * np.array([[219.0], [224.0], [224.0]]) / 255.0
    m = np.array([[int(cfg["matrix_r%dc%d" % (r, c)]) for c in range(3)] for r in range(3)])
    assert np.abs(m / 256.0 - np.linalg.inv(to_yuv)).max() < 1.0 / 256
    assert [int(cfg["input_bias_%d" % i]) for i in range(3)] == [16, 128, 128]
    # normalisation = the network's own x / 255 for every 8-bit value, channel by channel
    values = np.arange(256.0)
    for ch in range(3):
        out = (values - int(cfg["mean_chn_%d" % ch]) - float(cfg["min_chn_%d" % ch])) \
            * float(cfg["var_reci_chn_%d" % ch])
        assert np.abs(out - values / 255.0).max() < 1e-6


@pytest.mark.shared_data("hsd")
def test_convert_aipp_nv21_path_equals_rgb_path(cfg, model_inputs, frames, session):
    shape = model_inputs[0][1]
    sim = AippOp(load_aipp_file(str(AIPP_CFG))[0], shape)
    model = hilens.Model(str(ROOT / "model" / "matting.om"))
    h, w = shape[2:]
    prior = np.zeros((1, 1, h, w), np.float32)
    worst_input, gaps = 0.0, []
    for _, nv21 in frames:
        rgb = cv2.cvtColor(nv21, cv2.COLOR_YUV2RGB_NV21)  # what the frame encodes
        reference = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)
        emulated = sim.apply(nv21)[0]
        ours = numpy_aipp(nv21, cfg)
        assert np.abs(emulated - ours).max() < 1e-6, "the two AIPP implementations disagree"
        worst_input = max(worst_input, float(np.abs(emulated - reference).max()),
                          float(np.abs(ours - reference).max()))
        want = session.run(["alpha"], {"image": reference[None], "prev_alpha": prior})[0]
        # the simulator's whole device path: NV21 bytes in, AIPP, network
        gaps.append(alpha_gap(want, model.infer([nv21, prior])[0]))
        gaps.append(alpha_gap(want, session.run(["alpha"], {"image": ours[None],
                                                          "prev_alpha": prior})[0]))
    assert worst_input <= 2.0 / 255, "AIPP input off by %.2f/255" % (worst_input * 255)
    bad = [g for g in gaps if not within_alpha_limits(g)]
    assert not bad, "alpha (mean, share > 0.01, max) outside the limits: %s" % bad


@pytest.mark.shared_data("hsd")
def test_convert_aipp_wrong_range_or_order_would_be_caught(cfg, frames, session):
    """The comparison above can fail: the full-range (JPEG) table or NV12 order miss it, on
    the inputs and on alpha."""
    full_range = dict(cfg, matrix_r0c0=256, matrix_r0c1=0, matrix_r0c2=359,
                      matrix_r1c0=256, matrix_r1c1=-88, matrix_r1c2=-183,
                      matrix_r2c0=256, matrix_r2c1=454, matrix_r2c2=0, input_bias_0=0)
    nv12_order = dict(cfg, rbuv_swap_switch=False)
    h, w = frames[0][0].shape[:2]
    prior = np.zeros((1, 1, h, w), np.float32)
    for wrong in (full_range, nv12_order):
        worst_input, alpha_ok = 0.0, True
        for _, nv21 in frames:
            reference = cv2.cvtColor(nv21, cv2.COLOR_YUV2RGB_NV21).astype(np.float32) \
                .transpose(2, 0, 1) / 255.0
            tensor = numpy_aipp(nv21, wrong)
            worst_input = max(worst_input, float(np.abs(tensor - reference).max()))
            want = session.run(["alpha"], {"image": reference[None], "prev_alpha": prior})[0]
            got = session.run(["alpha"], {"image": tensor[None], "prev_alpha": prior})[0]
            alpha_ok = alpha_ok and within_alpha_limits(alpha_gap(want, got))
        assert worst_input > 4.0 / 255
        assert not alpha_ok
