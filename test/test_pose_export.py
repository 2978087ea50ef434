"""The shipped person models: ONNX contract and ATC check, the Caffe files inside the HiLens
operator boundary and equal to the ONNX files under OpenCV's own Caffe importer, the Caffe
building blocks, and the simulator running each model with its own AIPP config."""
import pathlib

import cv2
import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from tools.model import caffe_pb, check_caffe_boundary, check_onnx_ascend, export_pose_caffe
from tools.model.export_caffe import CaffeNetBuilder, run_opencv_caffe
from tools.model.pose_nets import depth_to_space

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL = ROOT / "model"
CONTRACTS = {
    "person_detector": ([("image", [1, 3, 224, 224])],
                        [("boxes", [1, 2254, 12]), ("logits", [1, 2254, 1])]),
    "person_segmenter": ([("image", [1, 3, 256, 256])],
                         [("alpha", [1, 1, 256, 256]), ("landmarks", [1, 195]),
                          ("presence", [1, 1]), ("aux_heatmap", [1, 2, 64, 64])]),
}


@pytest.fixture(scope="module")
def caffe_dir(tmp_path_factory):
    """The person models' Caffe files, written by the exporter (they are not committed)."""
    out = tmp_path_factory.mktemp("caffe")
    files = export_pose_caffe.export_all(out)
    assert sorted(files) == sorted(CONTRACTS)
    return out


def _dims(values):
    return [(v.name, [d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]


@pytest.mark.parametrize("stem", sorted(CONTRACTS))
def test_onnx_is_static_opset11_and_passes_the_atc_check(stem):
    model = onnx.load(str(MODEL / (stem + ".onnx")))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [11]
    assert (_dims(model.graph.input), _dims(model.graph.output)) == CONTRACTS[stem]
    census, problems = check_onnx_ascend.check_model(model)
    assert problems == []
    assert not set(census) & {"Shape", "Gather", "Pad", "Cast", "Unsqueeze", "Constant"}
    assert "MediaPipe" in model.doc_string and "Apache-2.0" in model.doc_string


def test_onnx_checker_holds_the_person_models_to_their_contract():
    model = onnx.load(str(MODEL / "person_detector.onnx"))
    model.graph.output[1].type.tensor_type.shape.dim[1].dim_value = 2000
    _, problems = check_onnx_ascend.check_model(model)
    assert any("the person detector contract wants [1, 2254, 1]" in p for p in problems)


@pytest.mark.parametrize("stem", sorted(CONTRACTS))
def test_caffe_is_inside_the_operator_boundary(caffe_dir, stem):
    net = caffe_pb.read_net(caffe_dir / (stem + ".prototxt"), caffe_dir / (stem + ".caffemodel"))
    _, violations, census, inputs, outputs = check_caffe_boundary.check_net(net)
    assert violations == []
    assert not set(census) & {"ReLU6", "Clip", "Interp", "DepthToSpace", "Upsample"}
    assert [(n, s) for n, s in inputs] == CONTRACTS[stem][0]
    got = {n: int(np.prod(s)) for n, s in outputs}
    assert got == {n: int(np.prod(s)) for n, s in CONTRACTS[stem][1]}


@pytest.fixture(scope="module")
def caffe_vs_onnx(caffe_dir):
    return {stem: export_pose_caffe.compare_with_onnx(stem, caffe_dir, MODEL)
            for stem in CONTRACTS}


# OpenCV's float32 kernels against ONNX Runtime's on the frames the networks see (measured
# maxima in model/MODEL.md); the regressors are in pixels, alpha a probability
CAFFE_BOUNDS = {"boxes": 5e-3, "logits": 5e-3, "alpha": 1e-2, "landmarks": 5e-3,
                "presence": 1e-4, "aux_heatmap": 1e-3}


@pytest.mark.parametrize("stem", sorted(CONTRACTS))
@pytest.mark.shared_data("hsd", "ccp", "davis", "videos")
def test_caffe_under_opencv_matches_onnx_runtime_on_real_frames(caffe_vs_onnx, stem):
    worst, frames = caffe_vs_onnx[stem]
    assert frames >= 14
    assert set(worst) == {n for n, _ in CONTRACTS[stem][1]}
    for name, diff in worst.items():
        assert diff <= CAFFE_BOUNDS[name], (name, diff)


def _opencv(builder, x):
    proto = builder.prototxt()
    weights = builder.caffemodel()
    net = cv2.dnn.readNetFromCaffe(np.frombuffer(proto.encode(), np.uint8),
                                   np.frombuffer(weights, np.uint8))
    net.setInput(np.ascontiguousarray(x, np.float32), "image")
    return net.forward(builder.layers[-1]["top"][0])


def test_caffe_depth_to_space_is_tensorflow_dcr_order():
    x = np.random.default_rng(0).standard_normal((1, 12, 3, 5)).astype(np.float32)
    b = CaffeNetBuilder("d2s")
    export_pose_caffe.emit_depth_to_space(b, "out", b.input("image", x.shape))
    want = depth_to_space(torch.from_numpy(x), 2).numpy()
    np.testing.assert_array_equal(_opencv(b, x), want)


def test_caffe_upsample_is_half_pixel_bilinear():
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 6)).astype(np.float32)
    b = CaffeNetBuilder("up")
    export_pose_caffe.emit_upsample2(b, "out", b.input("image", x.shape))
    want = F.interpolate(torch.from_numpy(x), scale_factor=2.0, mode="bilinear",
                         align_corners=False).numpy()
    np.testing.assert_allclose(_opencv(b, x), want, atol=1e-5)


def test_caffe_relu6_from_allowed_layers():
    x = np.linspace(-10, 10, 2 * 3 * 4 * 5, dtype=np.float32).reshape(2 // 2, 6, 4, 5)
    b = CaffeNetBuilder("relu6")
    export_pose_caffe.emit_relu6(b, "out", b.input("image", x.shape))
    assert {layer["type"] for layer in b.layers} <= {"Input", "ReLU", "Scale", "Eltwise"}
    np.testing.assert_allclose(_opencv(b, x), np.clip(x, 0, 6), atol=1e-6)


@pytest.mark.shared_data("hsd", "ccp", "davis", "videos")
def test_opencv_runs_the_exported_files_as_written(caffe_dir):
    feeds = export_pose_caffe.verification_inputs("person_detector")[:1]
    boxes, logits = run_opencv_caffe(caffe_dir / "person_detector.prototxt",
                                     caffe_dir / "person_detector.caffemodel",
                                     [{"image": x} for _, x in feeds], output="boxes,logits")[0]
    assert boxes.shape == (1, 2254, 12) and logits.shape == (1, 2254, 1)


# ---------------------------------------------------------------- simulator

def test_simulator_gives_each_model_its_own_aipp():
    import hilens

    det = hilens.Model(str(MODEL / "person_detector.om"))
    seg = hilens.Model(str(MODEL / "person_segmenter.om"))
    assert det.aipp_path == str(MODEL / "person_detector.aipp.cfg")
    assert seg.aipp_path == str(MODEL / "person_segmenter.aipp.cfg")
    assert det.inputs[0].nbytes == 224 * 224 * 3 // 2 and seg.inputs[0].nbytes == 256 * 256 * 3 // 2
    # the detector's AIPP turns the black letterbox (Y 16, U = V 128) into exactly -1 and
    # white into +1; the segmenter's into 0 and 1
    for model, black, white in ((det, -1.0, 1.0), (seg, 0.0, 1.0)):
        size = 224 if model is det else 256
        picture = np.full(size * size * 3 // 2, 128, np.uint8)
        picture[:size * size // 2] = 16
        picture[size * size // 2:size * size] = 235
        tensor = model.inputs[0].feed(picture)
        assert tensor.shape == (1, 3, size, size)
        assert np.all(tensor[:, :, :size // 2] == black)
        # Y 235 is RGB 254 in the integer BT.601 CSC
        assert np.allclose(tensor[:, :, size // 2:], white, atol=0.01)


@pytest.mark.shared_data("hsd", "ccp", "davis", "videos")
def test_simulator_detects_and_segments_from_nv21():
    """The NV21 path (simulated AIPP) finds the same person as the RGB path."""
    import hilens
    from hilens import nv21 as hn
    from tools.model import pose_check, pose_reference
    from utils import person_detect as pd

    fx = pose_check.load_fixture("ccp_pair_0002_0003")
    frame = pose_check.fixture_frame(fx, "ccp_pair_0002_0003")
    tensor, padding = pose_reference.detector_input(frame)
    rgb = np.round((tensor[0] + 1.0) * 127.5).astype(np.uint8)
    outs = hilens.Model(str(MODEL / "person_detector.om")).infer([hn.from_rgb(rgb, False, True)])
    assert [o.size for o in outs] == [2254 * 12, 2254]
    dets = pd.detect(outs[0], outs[1], pd.ssd_anchors(), padding)
    assert len(dets.scores) == len(fx["det_scores"]) == 2
    assert np.abs(dets.boxes - fx["det_boxes"]).max() < 0.02
    seg = hilens.Model(str(MODEL / "person_segmenter.om"))
    crop = np.zeros((256, 256, 3), np.uint8)
    outs = seg.infer([hn.from_rgb(crop, False, True)])
    assert [o.size for o in outs] == [256 * 256, 195, 1, 2 * 64 * 64]
    assert 0.0 <= outs[2][0] < 0.5  # no person in a black crop
