"""MediaPipe's person networks in PyTorch: tflite decoding (DENSIFY), the layer checks of the
importer, and the weights (tools/model/tflite_reader.py, pose_nets.py, pose_import.py)."""
import copy
import hashlib
import json
import pathlib

import numpy as np
import pytest
import torch

from tools.model import fetch_mediapipe, pose_import
from tools.model.pose_nets import (
    NUM_ANCHORS,
    PersonDetectorNet,
    PersonLandmarkNet,
    PersonSegmenterNet,
    depth_to_space,
)
from tools.model.tflite_reader import read_tflite

torch.set_num_threads(1)
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "pose"


@pytest.fixture(scope="module")
def det_graph():
    return read_tflite(fetch_mediapipe.tflite_path("pose_detector"))


@pytest.fixture(scope="module")
def lm_graph():
    return read_tflite(fetch_mediapipe.tflite_path("pose_landmark"))


@pytest.fixture(scope="module")
def detector():
    return pose_import.load_person_detector()


@pytest.fixture(scope="module")
def landmark():
    return pose_import.load_person_landmark()


def test_densify_gives_the_tflite_runtime_values(det_graph):
    """Every sparse detector constant, densified by our reader, is bit for bit what TFLite's
    DENSIFY kernel computes (its SHA-256, recorded with the interpreter)."""
    recorded = json.loads((FIXTURES / "densify_sha256.json").read_text())
    path = fetch_mediapipe.tflite_path("pose_detector")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded["file_sha256"]
    sparse = {t.name: t for t in det_graph.tensors if t.sparse}
    assert len(sparse) == len(recorded["tensors"]) == 38
    for name, digest in recorded["tensors"].items():
        dense = sparse[name].data
        assert dense.dtype == np.float16 and dense.shape == sparse[name].shape
        assert hashlib.sha256(np.ascontiguousarray(dense).tobytes()).hexdigest() == digest, name
    # and they are sparse indeed: the 1x1 kernels are about three quarters zeros
    zeros = sum(int((t.data == 0).sum()) for t in sparse.values())
    assert zeros > 0.7 * sum(t.data.size for t in sparse.values())


def test_constants_look_through_densify_and_dequantize(det_graph):
    op = next(o for o in det_graph.compute_ops() if o.type == "CONV_2D"
              and det_graph.producer(o.inputs[1]).type == "DEQUANTIZE"
              and det_graph.producer(det_graph.producer(o.inputs[1]).inputs[0]) is not None)
    kernel = det_graph.constant(op.inputs[1])
    assert kernel.dtype == np.float32 and kernel.shape == op.inputs[1].shape
    assert "DENSIFY" not in {o.type for o in det_graph.compute_ops()}


@pytest.mark.parametrize("which", ["detector", "landmark"])
def test_import_copies_every_weight_exactly(which, det_graph, lm_graph, detector, landmark):
    graph, net = (det_graph, detector) if which == "detector" else (lm_graph, landmark)
    assert not net.training
    file_values = np.sort(np.concatenate([
        graph.constant(t).ravel() for op in graph.compute_ops()
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D") for t in op.inputs[1:3]]))
    net_values = np.sort(np.concatenate([p.detach().numpy().ravel()
                                         for p in net.parameters()]))
    assert np.array_equal(file_values, net_values)


def _expect_refusal(net, graph, which, needle):
    with pytest.raises(ValueError, match=needle):
        pose_import.load_weights(net, graph, which)


def test_importer_refuses_a_layer_with_other_padding(det_graph):
    net = PersonDetectorNet()
    layer = net.blocks[1].depthwise  # the first strided depthwise conv: PAD 1 + VALID
    layer.pads = (0, 1, 0, 1)
    _expect_refusal(net, det_graph, "detector", r"pads \(top, bottom, left, right\)")


def test_importer_refuses_a_layer_with_another_activation(lm_graph):
    net = PersonLandmarkNet()
    net.skips[0].depthwise.act = None  # the graph fuses RELU6 there
    _expect_refusal(net, lm_graph, "landmark", "fused activation RELU6")


def test_importer_refuses_layers_in_another_order(det_graph):
    """Two same-shaped head layers swapped: only the forward-pass shapes or the order tell."""
    net = PersonDetectorNet()
    order = net.tflite_weight_order()
    i = order.index(net.heads[0].cls_dw)
    j = order.index(net.heads[1].cls_dw)
    order[i], order[j] = order[j], order[i]
    net.tflite_weight_order = lambda: order
    _expect_refusal(net, det_graph, "detector", "the PyTorch layer sees")


def test_importer_refuses_a_graph_with_other_resize_flags(lm_graph):
    graph = copy.deepcopy(lm_graph)
    op = next(o for o in graph.operators if o.type == "RESIZE_BILINEAR")
    op.options["align_corners"] = True
    _expect_refusal(PersonLandmarkNet(), graph, "landmark", "RESIZE_BILINEAR")


def test_importer_refuses_an_unmodelled_operator(det_graph):
    graph = copy.deepcopy(det_graph)
    next(o for o in graph.operators if o.type == "ADD").type = "MUL"
    _expect_refusal(PersonDetectorNet(), graph, "detector", "operators")


def test_depth_to_space_is_tensorflow_dcr_order():
    x = torch.arange(2 * 2 * 3 * 2 * 2, dtype=torch.float32).reshape(1, 12, 2, 2)
    y = depth_to_space(x, 2)
    assert y.shape == (1, 3, 4, 4)
    # out[c, 2h + i, 2w + j] = in[(2i + j) * C + c, h, w]
    for c in range(3):
        for i in range(2):
            for j in range(2):
                assert torch.equal(y[0, c, i::2, j::2], x[0, (2 * i + j) * 3 + c])


def test_output_shapes(detector, landmark):
    with torch.no_grad():
        boxes, logits = detector(torch.zeros(1, 3, 224, 224))
        outs = landmark(torch.zeros(1, 3, 256, 256))
    assert boxes.shape == (1, NUM_ANCHORS, 12) and logits.shape == (1, NUM_ANCHORS, 1)
    assert [tuple(o.shape) for o in outs] == [(1, 195), (1, 1), (1, 1, 256, 256),
                                             (1, 39, 64, 64), (1, 117)]
    with pytest.raises(ValueError, match="224 x 224"):
        detector(torch.zeros(1, 3, 256, 256))


def test_segmenter_is_the_landmark_network_with_probabilities(landmark):
    seg = PersonSegmenterNet(landmark).eval()
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        lms, presence, logits, heatmap, _ = landmark(x)
        alpha, lms2, presence2, aux = seg(x)
    assert torch.equal(alpha, torch.sigmoid(logits))
    assert torch.equal(lms2, lms) and torch.equal(presence2, presence)
    assert torch.allclose(aux, heatmap[:, 33:35], atol=1e-5)
