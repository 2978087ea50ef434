"""hilens.Model: .om -> .onnx on ONNX Runtime, AIPP on the related input, and infer()'s contract
(list of uint8/float32 arrays in, flat float32 arrays out, int error code on a size mismatch,
ValueError on anything else)."""
import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import hilens

W, H = 32, 16
NV21_BYTES = W * H * 3 // 2

AIPP_CFG = """aipp_op {
    aipp_mode: static
    related_input_rank: 0
    input_format: YUV420SP_U8
    src_image_size_w: %d
    src_image_size_h: %d
    rbuv_swap_switch: true
    csc_switch: true
    matrix_r0c0: 298  matrix_r0c1: 0     matrix_r0c2: 409
    matrix_r1c0: 298  matrix_r1c1: -100  matrix_r1c2: -208
    matrix_r2c0: 298  matrix_r2c1: 516   matrix_r2c2: 0
    input_bias_0: 16  input_bias_1: 128  input_bias_2: 128
    var_reci_chn_0: %r var_reci_chn_1: %r var_reci_chn_2: %r
}
"""


def matting_like_model(path, dynamic=False):
    """image 1x3xHxW + prev_alpha 1x1xHxW -> alpha = mean over channels + prev_alpha, and an
    `echo` output that returns the image tensor the network saw (after AIPP)."""
    hdim = "h" if dynamic else H
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, hdim, W])
    prev = helper.make_tensor_value_info("prev_alpha", TensorProto.FLOAT, [1, 1, hdim, W])
    alpha = helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, hdim, W])
    echo = helper.make_tensor_value_info("echo", TensorProto.FLOAT, [1, 3, hdim, W])
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Add", ["mean", "prev_alpha"], ["alpha"]),
        helper.make_node("Identity", ["image"], ["echo"]),
    ]
    graph = helper.make_graph(nodes, "matting_like", [image, prev], [alpha, echo])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    monkeypatch.delenv("HILENS_ORT_THREADS", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    hilens.terminate()


@pytest.fixture
def skill(tmp_path):
    """Standard skill layout: ./aipp.cfg and ./model/matting.onnx (the .om name is what the skill uses)."""
    (tmp_path / "model").mkdir()
    matting_like_model(tmp_path / "model" / "matting.onnx")
    (tmp_path / "aipp.cfg").write_text(AIPP_CFG % (W, H, 1 / 255, 1 / 255, 1 / 255))
    return str(tmp_path / "model" / "matting.om")


def nv21(seed=0):
    rng = np.random.default_rng(seed)
    frame = np.empty((H * 3 // 2, W), np.uint8)
    frame[:H] = rng.integers(16, 236, (H, W))
    frame[H:] = rng.integers(16, 241, (H // 2, W))
    return frame


def test_infer_applies_aipp_and_returns_flat_float32_outputs(skill, capsys):
    model = hilens.Model(skill)
    assert "aipp.cfg" in capsys.readouterr().err  # the AIPP file used is logged at creation
    frame = nv21()
    prev = np.full((1, 1, H, W), 0.25, np.float32)
    out = model.infer([frame.flatten(), prev.flatten()])
    assert isinstance(out, list) and len(out) == 2
    alpha, echo = out
    assert alpha.dtype == np.float32 and alpha.shape == (H * W,)
    assert echo.dtype == np.float32 and echo.shape == (3 * H * W,)
    rgb = cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_NV21).transpose(2, 0, 1).astype(np.float64) / 255
    assert np.abs(echo.reshape(3, H, W) - rgb).max() <= 1 / 255 + 1e-6
    np.testing.assert_allclose(alpha.reshape(H, W), echo.reshape(3, H, W).mean(axis=0) + 0.25, rtol=1e-5)
    # The shape of the arrays does not matter, only their bytes (the device copies buffers).
    again = model.infer([frame, prev])
    np.testing.assert_array_equal(again[0], alpha)


def test_float_input_given_as_its_bytes_in_uint8_is_accepted(skill):
    model = hilens.Model(skill)
    prev = np.random.default_rng(1).random((H * W,), dtype=np.float32)
    a = model.infer([nv21(), prev])
    b = model.infer([nv21(), prev.view(np.uint8)])
    np.testing.assert_array_equal(a[0], b[0])


def test_wrong_byte_size_returns_int_error_code_and_logs_sizes(skill, capsys):
    model = hilens.Model(skill)
    capsys.readouterr()
    prev = np.zeros(H * W, np.float32)
    rgb_instead = np.zeros(W * H * 3, np.uint8)  # the classic mistake: RGB where NV21 is expected
    code = model.infer([rgb_instead, prev])
    assert type(code) is int and code == hilens.ErrorCode.HIAI_INFER_ERROR == 17
    err = capsys.readouterr().err
    assert "size=%d" % NV21_BYTES in err  # expected, AIPP NV21 bytes
    assert "your input size:0: %d;1: %d;" % (W * H * 3, H * W * 4) in err  # given
    assert type(model.infer([nv21(), prev[:-1]])) is int


def test_wrong_number_of_inputs_returns_int_error_code_naming_counts(skill, capsys):
    model = hilens.Model(skill)
    capsys.readouterr()
    code = model.infer([nv21()])
    assert type(code) is int and code == 17
    err = capsys.readouterr().err
    assert "input count: 1" in err and "2 input(s)" in err
    assert type(model.infer([nv21(), np.zeros(H * W, np.float32), np.zeros(1, np.float32)])) is int


@pytest.mark.parametrize("inputs", [
    (np.zeros(NV21_BYTES, np.uint8), np.zeros(H * W, np.float32)),  # tuple, not list
    np.zeros(NV21_BYTES, np.uint8),  # bare array
    [np.zeros(NV21_BYTES, np.uint8), np.zeros(H * W, np.float64)],  # float64
    [np.zeros(NV21_BYTES, np.int32), np.zeros(H * W, np.float32)],  # int32
    [np.zeros(NV21_BYTES, np.uint8), [0.0] * (H * W)],  # list, not array
    [np.zeros(NV21_BYTES, np.uint8), np.zeros(H * W, np.float16)],
    "image",
])
def test_anything_but_a_list_of_uint8_float32_arrays_raises_value_error(skill, inputs):
    with pytest.raises(ValueError, match="uint8"):
        hilens.Model(skill).infer(inputs)


def test_without_aipp_the_image_input_takes_float32(tmp_path, capsys):
    folder = tmp_path / "plain"
    folder.mkdir()
    matting_like_model(folder / "net.onnx")
    model = hilens.Model(str(folder / "net.om"))
    assert "none" in capsys.readouterr().err
    image = np.random.default_rng(2).random((1, 3, H, W), dtype=np.float32)
    out = model.infer([image, np.zeros((1, 1, H, W), np.float32)])
    np.testing.assert_array_equal(out[1], image.ravel())
    assert model.infer([nv21(), np.zeros((1, 1, H, W), np.float32)]) == 17


def test_aipp_next_to_the_model_wins_over_the_skill_root(skill, tmp_path):
    frame, prev = nv21(3), np.zeros(H * W, np.float32)
    root_echo = hilens.Model(skill).infer([frame, prev])[1]
    (tmp_path / "model" / "aipp.cfg").write_text(AIPP_CFG % (W, H, 1.0, 1.0, 1.0))
    local = hilens.Model(skill)
    assert local.aipp_path == str(tmp_path / "model" / "aipp.cfg")
    np.testing.assert_allclose(local.infer([frame, prev])[1], root_echo * 255, rtol=1e-5, atol=1e-4)


def test_src_size_zero_means_model_size(skill, tmp_path):
    (tmp_path / "aipp.cfg").write_text(AIPP_CFG % (0, 0, 1 / 255, 1 / 255, 1 / 255))
    model = hilens.Model(skill)
    assert isinstance(model.infer([nv21(), np.zeros(H * W, np.float32)]), list)


def test_creation_failures_raise_create_error(skill, tmp_path, capsys):
    with pytest.raises(hilens.CreateError, match="missing.onnx"):
        hilens.Model(str(tmp_path / "model" / "missing.om"))
    assert "0x1013011" in capsys.readouterr().err
    with pytest.raises(hilens.CreateError):
        hilens.Model("")
    (tmp_path / "aipp.cfg").write_text("aipp_op { input_format: YUV420SP_U8 brightness: 3 }")
    with pytest.raises(hilens.CreateError, match="brightness"):
        hilens.Model(skill)
    (tmp_path / "aipp.cfg").write_text(AIPP_CFG % (64, 64, 1, 1, 1))
    with pytest.raises(hilens.CreateError, match="model input"):
        hilens.Model(skill)
    (tmp_path / "aipp.cfg").write_text("aipp_op { related_input_rank: 5 }")
    with pytest.raises(hilens.CreateError, match="related_input_rank"):
        hilens.Model(skill)
    (tmp_path / "model" / "junk.onnx").write_bytes(b"\x00junk")
    with pytest.raises(hilens.CreateError, match="ONNX Runtime"):
        hilens.Model(str(tmp_path / "model" / "junk.om"))


def test_dynamic_shapes_are_refused(tmp_path):
    matting_like_model(tmp_path / "dyn.onnx", dynamic=True)
    with pytest.raises(hilens.CreateError, match="dynamic"):
        hilens.Model(str(tmp_path / "dyn.om"))


def test_thread_count_comes_from_env(skill, monkeypatch):
    monkeypatch.setenv("HILENS_ORT_THREADS", "2")
    assert hilens.Model(skill).threads == 2
