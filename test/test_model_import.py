"""The tflite reader and the MediaPipe -> PyTorch import (tools/model/tflite_reader.py,
tools/model/selfie_net.py, tools/model/mediapipe_import.py, tools/model/fetch_mediapipe.py)."""
import collections

import numpy as np
import pytest
import torch

from tools.model import fetch_mediapipe
from tools.model.mediapipe_import import load_selfie_net
from tools.model.selfie_net import SelfieSegNet, tf_same_pads
from tools.model.tflite_reader import read_tflite

torch.set_num_threads(1)

# Compute-op histogram both MediaPipe files share (global pooling aside, see below).
EXPECTED_OPS = {"CONV_2D": 43, "DEPTHWISE_CONV_2D": 11, "HARD_SWISH": 11, "RELU": 22,
                "LOGISTIC": 11, "MUL": 10, "ADD": 14, "RESIZE_BILINEAR": 3,
                "CUSTOM:Convolution2DTransposeBias": 1}
POOL_OP = {"landscape": "MEAN", "square": "AVERAGE_POOL_2D"}


@pytest.fixture(scope="module", params=["landscape", "square"])
def variant(request):
    return request.param


def test_tflite_graph_is_the_network_the_port_models(variant):
    graph = read_tflite(fetch_mediapipe.tflite_path(variant))
    ops = collections.Counter(op.type for op in graph.compute_ops())
    assert ops.pop(POOL_OP[variant]) == 10
    assert dict(ops) == EXPECTED_OPS
    h, w = SelfieSegNet(variant).input_size
    assert graph.inputs[0].shape == (1, h, w, 3)
    assert graph.outputs[0].shape == (1, h, w, 1)
    resizes = [op.options for op in graph.operators if op.type == "RESIZE_BILINEAR"]
    assert resizes == [{"align_corners": False, "half_pixel_centers": True}] * 3
    head = [op for op in graph.operators if op.type.startswith("CUSTOM:")][0]
    assert head.options == {"padding": "SAME", "stride": (2, 2)}
    # weights are float16 constants behind DEQUANTIZE ops
    kernel = head.inputs[1]
    assert kernel.data is None and graph.producer(kernel).type == "DEQUANTIZE"
    assert graph.constant(kernel).dtype == np.float32
    assert graph.constant(kernel).shape == (1, 2, 2, 16)


def test_import_copies_every_weight_exactly(variant):
    net = load_selfie_net(variant)
    graph = read_tflite(fetch_mediapipe.tflite_path(variant))
    assert not net.training
    # every float16 weight in the file lands in exactly one parameter, bit for bit
    file_values = sorted(np.concatenate([
        t.data.astype(np.float32).ravel() for t in graph.tensors
        if t.data is not None and t.dtype is np.float16]))
    net_values = sorted(np.concatenate([p.detach().numpy().ravel() for p in net.parameters()]))
    assert np.array_equal(file_values, net_values)


def test_prev_alpha_channel_starts_at_zero_so_output_is_unchanged():
    plain = load_selfie_net("landscape")
    feedback = load_selfie_net("landscape", prev_alpha=True)
    w = feedback.stem.conv.weight.detach()
    assert w.shape == (16, 4, 3, 3)
    assert torch.count_nonzero(w[:, 3]) == 0
    assert torch.equal(w[:, :3], plain.stem.conv.weight.detach())
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, 144, 256, generator=gen)
    prev = torch.rand(2, 1, 144, 256, generator=gen)
    with torch.no_grad():
        want = plain(image)
        got = feedback(image, prev)
    assert got.shape == (2, 1, 144, 256)
    assert float((got - want).abs().max()) < 1e-6
    assert 0.0 <= float(got.min()) and float(got.max()) <= 1.0


def test_forward_rejects_wrong_inputs():
    plain = load_selfie_net("landscape")
    feedback = load_selfie_net("landscape", prev_alpha=True)
    image = torch.zeros(1, 3, 144, 256)
    with pytest.raises(ValueError, match="image must be N x 3 x 144 x 256"):
        plain(torch.zeros(1, 3, 256, 256))
    with pytest.raises(ValueError, match="takes prev_alpha"):
        feedback(image)
    with pytest.raises(ValueError, match="prev_alpha must be N x 1 x 144 x 256"):
        feedback(image, torch.zeros(1, 1, 72, 128))
    with pytest.raises(ValueError, match="without a prev_alpha"):
        plain(image, torch.zeros(1, 1, 144, 256))
    with pytest.raises(ValueError, match="unknown variant"):
        SelfieSegNet("portrait")


def test_import_refuses_a_file_of_the_other_variant():
    with pytest.raises(ValueError, match="tflite input is"):
        load_selfie_net("landscape", tflite_file=fetch_mediapipe.tflite_path("square"))


def test_tf_same_padding():
    # strided SAME padding is asymmetric: the extra row/column goes at the end
    assert tf_same_pads(144, 3, 2) == (0, 1)
    assert tf_same_pads(18, 5, 2) == (1, 2)
    assert tf_same_pads(9, 5, 1) == (2, 2)
    assert tf_same_pads(9, 3, 2) == (1, 1)


def test_fetch_env_dir_must_hold_the_right_files(tmp_path, monkeypatch):
    monkeypatch.setenv(fetch_mediapipe.ENV_DIR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not hold selfie_segmentation.tflite"):
        fetch_mediapipe.tflite_path("square")
    (tmp_path / "selfie_segmentation.tflite").write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="SHA-256"):
        fetch_mediapipe.tflite_path("square")
    with pytest.raises(ValueError, match="unknown MediaPipe model"):
        fetch_mediapipe.tflite_path("wide")
