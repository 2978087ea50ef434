"""The committed model/*.onnx files: the model contract, and that re-running the import and
export today still gives the same network (tools/model/export_onnx.py)."""
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tools.model.export_onnx import (
    MODELS,
    check_contract,
    export_onnx,
    fold_pad_into_conv,
    load_model,
)
from tools.model.mediapipe_import import load_selfie_net

torch.set_num_threads(1)
REPO = pathlib.Path(__file__).resolve().parent.parent
# What the exported graphs may contain: plain layers the Ascend converters know.
ALLOWED_OPS = {"Conv", "ConvTranspose", "Relu", "Sigmoid", "HardSigmoid", "Mul", "Add",
               "GlobalAveragePool", "Resize", "Concat", "AveragePool"}


def _session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module", params=sorted(MODELS))
def committed(request):
    name = request.param
    # matting.onnx: MediaPipe's weights and the trained FeedbackHead of model/feedback_head.json
    return name, REPO / "model" / name, load_model(name)


def test_committed_onnx_follows_the_model_contract(committed):
    name, path, net = committed
    model = onnx.load(str(path))
    check_contract(model, net.prev_alpha, net.input_size)  # raises on any breach
    assert {n.op_type for n in model.graph.node} <= ALLOWED_OPS
    resizes = [n for n in model.graph.node if n.op_type == "Resize"]
    assert len(resizes) == 3
    for node in resizes:
        attrs = {a.name: a.s for a in node.attribute if a.type == onnx.AttributeProto.STRING}
        assert attrs["mode"] == b"linear"
        assert attrs["coordinate_transformation_mode"] in (b"half_pixel", b"pytorch_half_pixel")
    stem = model.graph.node[1 if net.prior_at == "stem" else 0]
    assert stem.op_type == "Conv"
    pads = [list(a.ints) for a in stem.attribute if a.name == "pads"][0]
    assert pads == [0, 0, 1, 1]  # TensorFlow SAME for a 3x3/2 conv on an even size


def test_committed_onnx_matches_a_fresh_import(committed):
    name, path, net = committed
    sess = _session(path)
    h, w = net.input_size
    gen = torch.Generator().manual_seed(7)
    inputs = [torch.rand(1, 3, h, w, generator=gen)]
    if net.prev_alpha:
        # a non-zero prior: the network with its head computes the same in both runtimes
        inputs.append(torch.rand(1, 1, h, w, generator=gen))
    feed = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), inputs)}
    got = sess.run(["alpha"], feed)[0]
    with torch.no_grad():
        want = net(*inputs).numpy()
        plain = load_selfie_net(net.variant)(inputs[0]).numpy()
        if net.prev_alpha:
            # with a zero prior (the first frame, no feedback) it is the original network
            blank = net(inputs[0], torch.zeros_like(inputs[1])).numpy()
            assert float(np.abs(blank - plain).max()) < 1e-6
            feed["prev_alpha"] = np.zeros_like(feed["prev_alpha"])
            assert float(np.abs(sess.run(["alpha"], feed)[0] - plain).max()) < 1e-5
    if net.prior_at != "head":
        # the untrained stem extension (or no prior at all) ignores the prior
        assert float(np.abs(want - plain).max()) < 1e-6
    assert got.shape == (1, 1, h, w)
    assert float(np.abs(got - want).max()) < 1e-5


def test_reexport_reproduces_the_committed_weights(committed, tmp_path):
    name, path, net = committed
    fresh = onnx.load(str(export_onnx(net, tmp_path / name)))
    old = onnx.load(str(path))
    def as_dict(m):
        return {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    fresh_w, old_w = as_dict(fresh), as_dict(old)
    assert sorted(fresh_w) == sorted(old_w)
    for key in fresh_w:
        assert np.array_equal(fresh_w[key], old_w[key]), key
    assert [n.op_type for n in fresh.graph.node] == [n.op_type for n in old.graph.node]


def test_pad_folding_moves_zero_pad_into_conv():
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1, 2, 2])
    inits = [onnx.numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "p"),
             onnx.numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")]
    nodes = [onnx.helper.make_node("Pad", ["x", "p"], ["xp"], mode="constant"),
             onnx.helper.make_node("Conv", ["xp", "w"], ["y"], strides=[2, 2])]
    model = onnx.helper.make_model(onnx.helper.make_graph(nodes, "g", [x], [y], inits),
                                   opset_imports=[onnx.helper.make_opsetid("", 11)])
    model.ir_version = 6
    data = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    before = _session_from(model).run(None, {"x": data})[0]
    folded = fold_pad_into_conv(model)
    assert [n.op_type for n in folded.graph.node] == ["Conv"]
    assert [list(a.ints) for a in folded.graph.node[0].attribute if a.name == "pads"] == \
        [[0, 0, 1, 1]]
    assert [i.name for i in folded.graph.initializer] == ["w"]
    np.testing.assert_array_equal(_session_from(folded).run(None, {"x": data})[0], before)


def _session_from(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
