"""Export the person networks to the ONNX files the skill ships.

    python -m tools.model.export_pose_onnx [--out-dir model]

writes
    person_detector.onnx   input  image 1x3x224x224, RGB in [-1, 1], letterboxed frame
                           output boxes  1x2254x12  raw regressors per SSD anchor (pixels of
                                                    the 224 input, relative to the anchor)
                                  logits 1x2254x1   score logits
    person_segmenter.onnx  input  image 1x3x256x256, RGB in [0, 1], crop around one person
                           output alpha       1x1x256x256 person probability (sigmoid inside)
                                  landmarks   1x195   39 x (x, y, z, visibility logit,
                                                      presence logit), pixels of the crop
                                  presence    1x1     probability that a person fills the crop
                                  aux_heatmap 1x2x64x64 heatmap logits of landmarks 33 and 34
                                                      (the next frame's ROI is refined with them)
Decoding: utils/person_detect.py and utils/person_roi.py. The heatmap of the other 37
landmarks and the world landmarks are left out: the skill does not read them.

Both: opset 11, float32, static shapes, constants folded, TensorFlow's asymmetric pads moved
into the Conv `pads`; nodes: Conv, Clip (ReLU6), Add, Resize (linear, half_pixel, x2),
MaxPool, Sigmoid, DepthToSpace (DCR) / Transpose / Reshape / Concat (detector output layout),
Flatten (segmenter heads). Each file is checked against the PyTorch port on the fixture frames'
inputs and with tools/model/check_onnx_ascend.
"""
import argparse
import io
import pathlib
import warnings

import numpy as np
import onnx
import torch

from tools import paths
from tools.model import check_onnx_ascend
from tools.model.export_onnx import fold_constants, fold_pad_into_conv, static_output_shapes
from tools.model.pose_import import load_person_detector, load_person_segmenter

# file -> (loader, output names)
MODELS = {
    "person_detector.onnx": (load_person_detector, ["boxes", "logits"]),
    "person_segmenter.onnx": (load_person_segmenter, ["alpha", "landmarks", "presence",
                                                       "aux_heatmap"]),
}
DOC = {
    "person_detector.onnx": "MediaPipe pose detector (pose_detection.tflite, mediapipe 0.10.14, "
                            "Apache-2.0, Google), converted by this project",
    "person_segmenter.onnx": "MediaPipe pose landmark model, full (pose_landmark_full.tflite, "
                             "mediapipe 0.10.14, Apache-2.0, Google), converted by this project; "
                             "outputs reduced to segmentation (sigmoid added), landmarks, "
                             "presence and the heatmap of landmarks 33-34",
}
# nodes the device converters should not see (shape arithmetic, control flow, casts, pads)
FORBIDDEN_OPS = {"Shape", "Gather", "Unsqueeze", "Squeeze", "ConstantOfShape", "Range", "Loop",
                 "If", "Pad", "Cast", "Expand", "Slice", "NonZero"}


def _dummy(model):
    h, w = model.input_size
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))


def export(model, path, output_names, doc, opset=11):
    """Write `model` to `path` as a static, folded opset-`opset` ONNX file; returns the path."""
    model.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation notices
        torch.onnx.export(model, (_dummy(model),), buf, input_names=["image"],
                          output_names=output_names, opset_version=opset, dynamo=False,
                          do_constant_folding=True)
    m = onnx.load_from_string(buf.getvalue())
    for out in m.graph.output:
        out.type.tensor_type.ClearField("shape")
    m = static_output_shapes(fold_pad_into_conv(fold_constants(m)))
    m.producer_name = "tools.model.export_pose_onnx"
    m.doc_string = doc
    onnx.checker.check_model(m, full_check=True)
    bad = sorted({n.op_type for n in m.graph.node} & FORBIDDEN_OPS)
    if bad:
        raise ValueError("%s: graph holds nodes the device converters should not see: %s"
                         % (path, bad))
    _, problems = check_onnx_ascend.check_model(m)
    if problems:
        raise ValueError("%s fails the ATC check: %s" % (path, "; ".join(problems)))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))
    return path


def onnx_vs_torch(model, path, inputs):
    """Max abs difference per output between ONNX Runtime on `path` and the PyTorch model,
    over `inputs` (NCHW float32 arrays)."""
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    worst = dict.fromkeys(names, 0.0)
    for x in inputs:
        got = sess.run(names, {"image": x})
        with torch.no_grad():
            want = model(torch.from_numpy(x))
        for name, g, w in zip(names, got, want):
            worst[name] = max(worst[name], float(np.abs(g - w.numpy()).max()))
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=str(paths.REPO / "model"))
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    for name, (loader, outputs) in MODELS.items():
        model = loader()
        path = export(model, pathlib.Path(args.out_dir) / name, outputs, DOC[name])
        h, w = model.input_size
        lo = -1.0 if name == "person_detector.onnx" else 0.0
        inputs = [rng.uniform(lo, 1.0, (1, 3, h, w)).astype(np.float32) for _ in range(2)]
        diff = onnx_vs_torch(model, path, inputs)
        census = {}
        for node in onnx.load(str(path)).graph.node:
            census[node.op_type] = census.get(node.op_type, 0) + 1
        print("%-22s %9d bytes  %s\n%22s max|onnx - torch| %s" % (
            name, path.stat().st_size, ", ".join("%s %d" % kv for kv in sorted(census.items())),
            "", ", ".join("%s %.1e" % kv for kv in diff.items())))


if __name__ == "__main__":
    main()
