"""tools/model/check_onnx_ascend.py: the shipped ONNX files pass, each kind of atc problem is
caught."""
import pathlib
import subprocess
import sys

import onnx
import pytest
from onnx import helper

from tools.model import check_onnx_ascend as checker

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = {"matting.onnx": True, "selfie_landscape.onnx": False, "selfie_square.onnx": False}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_convert_onnx_shipped_models_pass(name):
    census, problems = checker.check_model(onnx.load(str(ROOT / "model" / name)),
                                           expect_prev_alpha=MODELS[name])
    assert problems == []
    assert {"Conv", "Resize", "ConvTranspose", "Sigmoid"} <= set(census)


def test_convert_onnx_input_shape_argument():
    model = onnx.load(str(ROOT / "model" / "matting.onnx"))
    assert checker.input_shape_arg(model) == "image:1,3,144,256;prev_alpha:1,1,144,256"


def _matting():
    return onnx.load(str(ROOT / "model" / "matting.onnx"))


def _first(model, op_type):
    return next(n for n in model.graph.node if n.op_type == op_type)


def _opset13(m):
    m.opset_import[0].version = 13


def _dynamic_batch(m):
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"


def _custom_op(m):
    _first(m, "Sigmoid").domain = "com.example"


def _unlisted_op(m):
    _first(m, "Sigmoid").op_type = "Mish"


def _cubic_resize(m):
    node = _first(m, "Resize")
    for a in node.attribute:
        if a.name == "mode":
            a.s = b"cubic"


def _computed_scales(m):
    node = _first(m, "Resize")
    scales = node.input[2]
    m.graph.node.insert(0, helper.make_node("Identity", [scales], ["scales_copy"]))
    node.input[2] = "scales_copy"


def _rename(value_infos, new):
    """A breaker that renames a graph input/output and every node edge that uses it."""
    def breaker(m):
        info = value_infos(m.graph)
        old, info.name = info.name, new
        for node in m.graph.node:
            for edges in (node.input, node.output):
                for i, name in enumerate(edges):
                    if name == old:
                        edges[i] = new
    return breaker


_renamed_input = _rename(lambda g: g.input[1], "prior")
_renamed_output = _rename(lambda g: g.output[0], "mask")


BREAKERS = {
    "opset 13": (_opset13, "opset 13"),
    "dynamic batch": (_dynamic_batch, "is not static"),
    "custom domain": (_custom_op, "custom domain"),
    "unlisted op": (_unlisted_op, "not in ATC's ONNX operator list"),
    "cubic Resize": (_cubic_resize, "mode 'cubic'"),
    "computed Resize scales": (_computed_scales, "must be a constant"),
    "renamed prev_alpha": (_renamed_input, "inputs ['image', 'prior']"),
    "renamed output": (_renamed_output, "outputs ['mask']"),
}


@pytest.mark.parametrize("case", sorted(BREAKERS))
def test_convert_onnx_checker_catches(case):
    breaker, needle = BREAKERS[case]
    model = _matting()
    breaker(model)
    _, problems = checker.check_model(model)
    assert any(needle in p for p in problems), problems


def test_convert_onnx_checker_cli(tmp_path):
    model = _matting()
    _unlisted_op(model)
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    proc = subprocess.run([sys.executable, "-m", "tools.model.check_onnx_ascend",
                           str(ROOT / "model" / "matting.onnx"), str(bad)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "matting.onnx: OK for atc" in proc.stdout
    assert "(Mish): not in ATC's ONNX operator list" in proc.stdout
