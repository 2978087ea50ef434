"""The simulator's Preprocessor.crop against the devguide page (裁剪图片.md: src NV21, width in
[64, 1920] and height in [64, 1080], x in [0, 1920], y in [0, 1080], w in [64, 1920], h in
[64, 1080], all even, t 0 = NV21 / 1 = NV12, ValueError on failure), and several hilens.Model
objects with different AIPP configs run side by side, as the person stage does every frame."""
import os

import numpy as np
import pytest

import hilens
from utils import nv21

W, H = 320, 240


def frame():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (H * 3 // 2, W), dtype=np.uint8)


def test_crop_is_the_region_of_both_planes():
    f = frame()
    out = hilens.Preprocessor().crop(f, 64, 32, 128, 96, 0)
    assert out.shape == (96 * 3 // 2, 128) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:96], f[32:128, 64:192])
    np.testing.assert_array_equal(out[96:], f[H + 16:H + 64, 64:192])  # VU rows y/2..
    nv12 = hilens.Preprocessor().crop(f, 64, 32, 128, 96, 1)
    np.testing.assert_array_equal(nv12[:96], out[:96])
    vu = nv21.vu_pairs(out)
    uv = nv12[96:].reshape(48, 64, 2)
    np.testing.assert_array_equal(uv[..., 0], vu[..., 1])  # NV12: U first
    # the whole frame is a valid region
    np.testing.assert_array_equal(hilens.Preprocessor().crop(f, 0, 0, W, H, 0), f)


@pytest.mark.parametrize("args,name", [
    ((3, 0, 64, 64, 0), "x"),                   # odd x
    ((0, 3, 64, 64, 0), "y"),                   # odd y
    ((0, 0, 62, 64, 0), "w"),                   # under 64
    ((0, 0, 64, 1082, 0), "h"),                 # over 1080
    ((0, 0, 66, 64, 2), "t"),                   # t is 0 or 1
    ((0, 0, 64.0, 64, 0), "w"),                 # not an int
    ((2000, 0, 64, 64, 0), "x"),                # x over 1920
    ((W - 62, 0, 64, 64, 0), "region"),         # leaves the frame on the right
    ((0, H - 62, 64, 64, 0), "region"),         # and at the bottom
])
def test_bad_crop_arguments_raise_valueerror_naming_them(args, name):
    with pytest.raises(ValueError, match=name):
        hilens.Preprocessor().crop(frame(), *args)


def test_crop_refuses_sources_the_hardware_cannot_take():
    with pytest.raises(ValueError, match="src"):
        hilens.Preprocessor().crop(np.zeros((1088 * 3 // 2, 1936), np.uint8), 0, 0, 64, 64, 0)
    with pytest.raises(ValueError, match="src"):
        hilens.Preprocessor().crop(np.zeros((60 * 3 // 2, 64), np.uint8), 0, 0, 64, 64, 0)
    with pytest.raises(ValueError, match="src"):
        hilens.Preprocessor().crop(np.zeros((H, W, 3), np.uint8), 0, 0, 64, 64, 0)  # BGR


AIPP = """aipp_op {
    aipp_mode: static
    related_input_rank: 0
    input_format: YUV420SP_U8
    src_image_size_w: %(w)d
    src_image_size_h: %(h)d
    rbuv_swap_switch: true
    csc_switch: true
    matrix_r0c0: 298
    matrix_r0c1: 0
    matrix_r0c2: 409
    matrix_r1c0: 298
    matrix_r1c1: -100
    matrix_r1c2: -208
    matrix_r2c0: 298
    matrix_r2c1: 516
    matrix_r2c2: 0
    input_bias_0: 16
    input_bias_1: 128
    input_bias_2: 128
    min_chn_0: %(min)s
    min_chn_1: %(min)s
    min_chn_2: %(min)s
    var_reci_chn_0: %(var)s
    var_reci_chn_1: %(var)s
    var_reci_chn_2: %(var)s
}
"""


def write_identity(folder, name, w, h, lo, hi):
    """model/<name>.onnx returning its image input, and <name>.aipp.cfg mapping 0..255 to
    lo..hi: what the model sees is what comes out."""
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"])], name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, h, w])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.save(model, os.path.join(folder, name + ".onnx"))
    span = (hi - lo) / 255.0
    with open(os.path.join(folder, name + ".aipp.cfg"), "w") as f:
        f.write(AIPP % dict(w=w, h=h, min=repr(-lo / span), var=repr(span)))


def test_models_with_their_own_aipp_run_side_by_side(tmp_path):
    folder = str(tmp_path)
    write_identity(folder, "wide", 224, 224, -1.0, 1.0)   # the detector's [-1, 1]
    write_identity(folder, "unit", 256, 256, 0.0, 1.0)    # the segmenter's [0, 1]
    wide = hilens.Model(os.path.join(folder, "wide.om"))
    unit = hilens.Model(os.path.join(folder, "unit.om"))
    def grey(side):  # Y 126, neutral chroma: RGB (298 * 110) >> 8 = 128
        f = np.full((side * 3 // 2, side), nv21.NEUTRAL_UV, np.uint8)
        f[:side] = 126
        return f.reshape(-1)
    for _ in range(3):  # interleaved calls do not disturb each other
        a = unit.infer([grey(256)])
        assert wide.infer([grey(256)]) == 17  # a wrong size is refused by that model alone
        b = wide.infer([grey(224)])
        assert a[0].size == 3 * 256 * 256 and b[0].size == 3 * 224 * 224
        assert np.allclose(a[0], 128 / 255.0, atol=1e-5)
        assert np.allclose(b[0], 128 / 127.5 - 1.0, atol=1e-5)
