"""The simulator's OpenCV fast path for YUV420SP + CSC AIPP is bit-identical to its integer path.

Exhaustive over every (Y, first chroma byte, second chroma byte) triple for the repo's aipp.cfg,
and over random pictures for other CSC setups (NV12 order, output bias, crop offset)."""
import os

import numpy as np
import pytest

from hilens import aipp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def integer_path(op, raw):
    fast, op._fast = op._fast, None
    try:
        return op.apply(raw)
    finally:
        op._fast = fast


def every_yuv_triple(h, w):
    """Pictures of h x w that together hold every Y with every chroma pair (each 2x2 block
    has one pair and four different Y values)."""
    pairs_per_picture = (h // 2) * (w // 2)
    for group in range(-(-65536 // pairs_per_picture)):
        idx = (group * pairs_per_picture + np.arange(pairs_per_picture)) % 65536
        for y_group in range(64):
            frame = np.empty((h * 3 // 2, w), np.uint8)
            vu = frame[h:].reshape(h // 2, w // 2, 2)
            vu[..., 0] = (idx >> 8).reshape(h // 2, w // 2)
            vu[..., 1] = (idx & 255).reshape(h // 2, w // 2)
            blocks = frame[:h].reshape(h // 2, 2, w // 2, 2)
            for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
                blocks[:, dy, :, dx] = y_group * 4 + k
            yield frame.reshape(-1)


def test_repo_aipp_fast_path_equals_integer_path_for_every_yuv_value():
    op = aipp.AippOp(aipp.load_aipp_file(os.path.join(REPO, "aipp.cfg"))[0], (1, 3, 144, 256))
    assert op._fast is not None  # the repo's config takes the fast path
    mismatches = 0
    pictures = 0
    for raw in every_yuv_triple(144, 256):
        mismatches += int((op.apply(raw) != integer_path(op, raw)).sum())
        pictures += 1
    assert pictures * 144 * 256 >= 256 ** 3
    assert mismatches == 0


CFG = """aipp_op {
    aipp_mode: static
    input_format: YUV420SP_U8
    src_image_size_w: %(sw)d
    src_image_size_h: %(sh)d
    rbuv_swap_switch: %(swap)s
    crop: %(crop)s
    load_start_pos_w: 4
    load_start_pos_h: 2
    crop_size_w: 64
    crop_size_h: 32
    csc_switch: true
    matrix_r0c0: 256
    matrix_r0c1: 0
    matrix_r0c2: 359
    matrix_r1c0: 256
    matrix_r1c1: -88
    matrix_r1c2: -183
    matrix_r2c0: 256
    matrix_r2c1: 454
    matrix_r2c2: 0
    input_bias_0: 0
    input_bias_1: 128
    input_bias_2: 128
    output_bias_0: %(ob)d
    output_bias_1: 0
    output_bias_2: 3
    mean_chn_0: 104
    mean_chn_1: 117
    mean_chn_2: 123
    min_chn_0: 0.5
    var_reci_chn_0: 0.0171
    var_reci_chn_1: 0.0175
    var_reci_chn_2: 0.0174
}
"""


@pytest.mark.parametrize("swap,crop,ob", [("false", "false", 0), ("true", "true", 12),
                                          ("false", "true", -7)])
def test_other_csc_setups_fast_path_equals_integer_path(tmp_path, swap, crop, ob):
    sw, sh = 96, 48
    path = tmp_path / "aipp.cfg"
    path.write_text(CFG % dict(sw=sw, sh=sh, swap=swap, crop=crop, ob=ob))
    shape = (2, 3, 32, 64) if crop == "true" else (2, 3, sh, sw)
    op = aipp.AippOp(aipp.load_aipp_file(str(path))[0], shape)
    assert op._fast is not None
    rng = np.random.default_rng(ob + 10)
    for _ in range(3):
        raw = rng.integers(0, 256, op.input_bytes, dtype=np.uint8)
        np.testing.assert_array_equal(op.apply(raw), integer_path(op, raw))


def test_padding_or_no_csc_keeps_the_integer_path(tmp_path):
    body = CFG % dict(sw=64, sh=32, swap="true", crop="false", ob=0)
    padded = body.replace("csc_switch: true", "csc_switch: true\n    padding: true\n"
                          "    top_padding_size: 2\n    bottom_padding_size: 2")
    path = tmp_path / "aipp.cfg"
    path.write_text(padded)
    assert aipp.AippOp(aipp.load_aipp_file(str(path))[0], (1, 3, 36, 64))._fast is None
    path.write_text(body.replace("csc_switch: true", "csc_switch: false"))
    assert aipp.AippOp(aipp.load_aipp_file(str(path))[0], (1, 3, 32, 64))._fast is None
