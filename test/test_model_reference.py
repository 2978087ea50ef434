"""The PyTorch port and the committed ONNX files against MediaPipe's own selfie-segmentation
solution, recorded by tools/model/make_reference_fixtures.py on images made from
grace_hopper.jpg."""
import pathlib

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from tools.model.mediapipe_import import load_selfie_net

torch.set_num_threads(1)
REPO = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = REPO / "test" / "fixtures" / "model"
ONNX_FILES = {"landscape": ("matting.onnx", "selfie_landscape.onnx"),
              "square": ("selfie_square.onnx",)}
TOLERANCE = 1e-3  # includes the float16 storage of the reference masks (<= 2.5e-4)


def _fixtures(variant):
    pairs = []
    for png in sorted(FIXTURES.glob(variant + "_*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        mask = np.load(str(png).replace(".png", "_mask.npz"))["mask"].astype(np.float32)
        pairs.append((png.stem, rgb, mask))
    return pairs


@pytest.fixture(scope="module", params=["landscape", "square"])
def variant(request):
    return request.param


def test_fixtures_are_present_and_at_model_size(variant):
    pairs = _fixtures(variant)
    assert len(pairs) >= 2
    size = load_selfie_net(variant).input_size
    for name, rgb, mask in pairs:
        assert rgb.shape == size + (3,), name
        assert mask.shape == size, name
        # a real segmentation: both person and background present
        assert (mask > 0.9).mean() > 0.05 and (mask < 0.1).mean() > 0.05, name


def test_pytorch_port_matches_mediapipe(variant):
    net = load_selfie_net(variant)
    for name, rgb, mask in _fixtures(variant):
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            alpha = net(x)[0, 0].numpy()
        assert float(np.abs(alpha - mask).max()) <= TOLERANCE, name


def test_committed_onnx_matches_mediapipe(variant):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    for file_name in ONNX_FILES[variant]:
        sess = ort.InferenceSession(str(REPO / "model" / file_name), opts,
                                    providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        for name, rgb, mask in _fixtures(variant):
            feed = {"image": (rgb.transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)}
            if "prev_alpha" in names:
                feed["prev_alpha"] = np.zeros((1, 1) + mask.shape, np.float32)  # "no prior"
            alpha = sess.run(["alpha"], feed)[0][0, 0]
            assert float(np.abs(alpha - mask).max()) <= TOLERANCE, (file_name, name)
