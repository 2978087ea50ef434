"""Load MediaPipe's selfie-segmentation weights from the .tflite file into SelfieSegNet.

The file stores every kernel and bias as float16 followed by a DEQUANTIZE op; the values are
cast to float32 exactly as the tflite runtime does. Weighted layers are matched one to one, in
graph order, against SelfieSegNet.tflite_weight_order(); any difference in layer kind, shape,
stride or padding stops the import with the offending tflite tensor named.

TFLite layouts -> PyTorch:
  CONV_2D             [out, kh, kw, in]  -> Conv2d          [out, in, kh, kw]
  DEPTHWISE_CONV_2D   [1, kh, kw, ch]    -> Conv2d(groups)  [ch, 1, kh, kw]
  Convolution2DTransposeBias [out, kh, kw, in] -> ConvTranspose2d [in, out, kh, kw]

CLI: python -m tools.model.mediapipe_import --check REF.npz  (reference masks of real photos,
see tools/model/make_reference_fixtures.py) prints the max abs difference of the port and the
ONNX files.
"""
import argparse
import pathlib

import numpy as np
import torch

from tools import paths
from tools.model.fetch_mediapipe import tflite_path
from tools.model.selfie_net import SelfieSegNet, tf_same_pads
from tools.model.tflite_reader import read_tflite

_KINDS = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise",
          "CUSTOM:Convolution2DTransposeBias": "transpose"}
# Ops whose presence the PyTorch module reproduces; anything else means a different network.
_KNOWN_OPS = set(_KINDS) | {"HARD_SWISH", "RELU", "LOGISTIC", "MUL", "ADD", "MEAN",
                            "AVERAGE_POOL_2D", "RESIZE_BILINEAR"}


def _torch_layout(kind, kernel):
    if kind == "conv":
        return kernel.transpose(0, 3, 1, 2)
    return kernel.transpose(3, 0, 1, 2)  # depthwise and transpose share the permutation


def _check_graph(graph, net):
    unknown = sorted({op.type for op in graph.compute_ops()} - _KNOWN_OPS)
    if unknown:
        raise ValueError("tflite graph has operators the PyTorch port does not model: %s"
                         % unknown)
    h, w = net.input_size
    in_shape = graph.inputs[0].shape
    if in_shape != (1, h, w, 3):
        raise ValueError("tflite input is %s, variant %r expects (1, %d, %d, 3)"
                         % (in_shape, net.variant, h, w))
    for op in graph.compute_ops():
        if op.type == "RESIZE_BILINEAR" and (op.options["align_corners"]
                                             or not op.options["half_pixel_centers"]):
            raise ValueError("op %d: RESIZE_BILINEAR with %s, the port assumes "
                             "align_corners=False, half_pixel_centers=True"
                             % (op.index, op.options))
        if op.type == "AVERAGE_POOL_2D":
            size = op.inputs[0].shape[1:3]
            if op.options["filter"] != size or op.options["padding"] != "VALID":
                raise ValueError("op %d: AVERAGE_POOL_2D %s is not a global pool over %s"
                                 % (op.index, op.options, size))
        if op.options.get("activation", "NONE") != "NONE":
            raise ValueError("op %d (%s) has a fused activation %s the port does not model"
                             % (op.index, op.type, op.options["activation"]))


def _module_pads(module):
    """((top, bottom), (left, right)) zero padding the PyTorch conv applies."""
    extra = getattr(module, "extra_pad", None)
    if extra is not None:
        return (extra[2], extra[3]), (extra[0], extra[1])
    return tuple((p, p) for p in module.padding)


def _check_layer(op, kind, module):
    name = op.inputs[1].name
    stride = op.options["stride"]
    if tuple(module.stride) != stride:
        raise ValueError("%s: stride %s, PyTorch layer has %s" % (name, stride, module.stride))
    if op.options.get("dilation", (1, 1)) != (1, 1):
        raise ValueError("%s: dilated convs are not modelled" % name)
    if op.options.get("depth_multiplier", 1) != 1:
        raise ValueError("%s: depth multiplier %d" % (name, op.options["depth_multiplier"]))
    if kind == "transpose":
        k = module.kernel_size
        if op.options["padding"] != "SAME" or stride != k or tuple(module.padding) != (0, 0):
            raise ValueError("%s: transposed conv %s is not a non-overlapping upsample"
                             % (name, op.options))
        return
    in_hw = op.inputs[0].shape[1:3]
    if op.options["padding"] == "SAME":
        want = tuple(tf_same_pads(n, k, s) for n, k, s in zip(in_hw, module.kernel_size, stride))
    else:
        want = ((0, 0), (0, 0))
    if _module_pads(module) != want:
        raise ValueError("%s: tflite %s padding on %s means pads %s, PyTorch layer has %s"
                         % (name, op.options["padding"], in_hw, want, _module_pads(module)))


def load_selfie_net(variant="landscape", prev_alpha=False, tflite_file=None):
    """SelfieSegNet in eval mode with MediaPipe's weights. With prev_alpha=True the stem conv
    gets a fourth input channel whose weights are zero."""
    net = SelfieSegNet(variant, prev_alpha)
    path = tflite_file if tflite_file is not None else tflite_path(variant)
    graph = read_tflite(path)
    _check_graph(graph, net)

    layers = [op for op in graph.compute_ops() if op.type in _KINDS]
    order = net.tflite_weight_order()
    if len(layers) != len(order):
        raise ValueError("%s has %d weighted layers, SelfieSegNet has %d"
                         % (path, len(layers), len(order)))
    with torch.no_grad():
        for op, (kind, module) in zip(layers, order):
            if _KINDS[op.type] != kind:
                raise ValueError("%s: tflite %s where SelfieSegNet has a %s layer"
                                 % (op.inputs[1].name, op.type, kind))
            kernel = _torch_layout(kind, graph.constant(op.inputs[1]))
            bias = graph.constant(op.inputs[2])
            _check_layer(op, kind, module)
            want = tuple(module.weight.shape)
            if module is net.stem.conv and prev_alpha:
                # the prev_alpha channel starts at zero: untrained, the output is unchanged
                kernel = np.concatenate([kernel, np.zeros_like(kernel[:, :1])], axis=1)
            if kernel.shape != want or bias.shape != tuple(module.bias.shape):
                raise ValueError("%s: kernel %s / bias %s, PyTorch layer wants %s / %s"
                                 % (op.inputs[1].name, kernel.shape, bias.shape, want,
                                    tuple(module.bias.shape)))
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            module.bias.copy_(torch.from_numpy(bias))
    return net.eval()


def reference_diff(net, images, masks, batch=16):
    """Max abs difference between `net` and reference masks on uint8 RGB images (N x H x W x 3)."""
    worst = 0.0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).permute(0, 3, 1, 2)
            alpha = net(x.float() / 255.0)[:, 0].numpy()
            worst = max(worst, float(np.abs(alpha - masks[i:i + batch]).max()))
    return worst


def _onnx_reference_diff(path, images, masks):
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    worst = 0.0
    for image, mask in zip(images, masks):
        feed = {"image": (image.transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)}
        if "prev_alpha" in names:
            feed["prev_alpha"] = np.zeros((1, 1) + mask.shape, np.float32)
        alpha = sess.run(["alpha"], feed)[0][0, 0]
        worst = max(worst, float(np.abs(alpha - mask).max()))
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Compare the imported network (and the exported ONNX) with MediaPipe "
                    "reference masks written by tools/model/make_reference_fixtures.py --photos.")
    parser.add_argument("--check", required=True, help="reference .npz")
    parser.add_argument("--onnx-dir", default=str(paths.REPO / "model"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    ref = np.load(args.check)
    onnx_files = {"landscape": ["matting.onnx", "selfie_landscape.onnx"],
                  "square": ["selfie_square.onnx"]}
    for variant in ("landscape", "square"):
        images, masks = ref["images_" + variant], ref["masks_" + variant]
        print("%-9s %3d photos  max|torch - mediapipe| %.2e"
              % (variant, len(images), reference_diff(load_selfie_net(variant), images, masks)))
        for name in onnx_files[variant]:
            path = pathlib.Path(args.onnx_dir) / name
            if path.is_file():
                print("%-9s %3d photos  max|%s - mediapipe| %.2e"
                      % (variant, len(images), name, _onnx_reference_diff(path, images, masks)))


if __name__ == "__main__":
    main()
