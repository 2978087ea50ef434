"""Load MediaPipe's pose detector and pose landmark weights from their .tflite files into
tools/model/pose_nets.py, checking every layer on the way.

The detector stores most 1x1 kernels as sparse float16 (DENSIFY then DEQUANTIZE); the landmark
model stores dense float16 behind DEQUANTIZE. tools/model/tflite_reader.py decodes both exactly
as the TFLite runtime does, so the float32 weights here are the values the interpreter uses.

Checks, each naming the tflite tensor that fails:
- the graph's operator histogram, its input and output shapes, and the options of the
  parameter-free ops (RESIZE_BILINEAR half-pixel x2, DEPTH_TO_SPACE block 2, MAX_POOL 2x2/2
  VALID, the fused activations of the ADDs);
- each CONV_2D / DEPTHWISE_CONV_2D against the PyTorch layer it is zipped with: kind, kernel and
  bias shapes, stride, dilation, the zero padding it applies (an explicit PAD op in front plus
  the SAME/VALID rule), its fused activation, and the input and output shapes the PyTorch layer
  sees in a forward pass (hooks), which pins down where in the network it sits.

CLI: python -m tools.model.pose_import prints the parameter counts and a summary of the checks.
"""
import argparse
import collections
from typing import Dict, List, Tuple

import numpy as np
import torch

from tools.model import fetch_mediapipe
from tools.model.pose_nets import (
    ConvAct,
    PersonDetectorNet,
    PersonLandmarkNet,
    PersonSegmenterNet,
    count_params,
    same_pads,
)
from tools.model.tflite_reader import read_tflite

_KINDS = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise"}
_ACT = {"RELU6": "relu6", "NONE": None}

# Compute-op histograms of the two graphs (DEQUANTIZE / DENSIFY weight decoding left out) and
# the fused activations of their ADD ops: what the PyTorch modules reproduce.
EXPECTED = {
    "detector": {
        "ops": {"CONV_2D": 45, "DEPTHWISE_CONV_2D": 28, "ADD": 15, "PAD": 8, "RESHAPE": 6,
                "DEPTH_TO_SPACE": 3, "RESIZE_BILINEAR": 2, "CONCATENATION": 2},
        "adds": {"NONE": 11, "RELU6": 4},
        "inputs": [(1, 224, 224, 3)],
        "outputs": [(1, 2254, 12), (1, 2254, 1)],
    },
    "landmark": {
        "ops": {"CONV_2D": 58, "DEPTHWISE_CONV_2D": 38, "ADD": 28, "PAD": 5,
                "RESIZE_BILINEAR": 5, "RESHAPE": 3, "MAX_POOL_2D": 2, "LOGISTIC": 1},
        "adds": {"NONE": 13, "RELU6": 15},
        "inputs": [(1, 256, 256, 3)],
        "outputs": [(1, 195), (1, 1), (1, 256, 256, 1), (1, 64, 64, 39), (1, 117)],
    },
}


def _torch_layout(kind: str, kernel: np.ndarray) -> np.ndarray:
    # CONV_2D [out, kh, kw, in] -> [out, in, kh, kw]; DEPTHWISE [1, kh, kw, ch] -> [ch, 1, kh, kw]
    return kernel.transpose(0, 3, 1, 2) if kind == "conv" else kernel.transpose(3, 0, 1, 2)


def _hook_shapes(net, order: List[ConvAct]) -> Dict[int, Tuple[tuple, tuple]]:
    """id(layer) -> (input NCHW shape before its own padding, output NCHW shape), from one
    forward pass on zeros."""
    shapes, handles = {}, []
    for layer in order:
        def hook(module, args, out, key=id(layer)):
            shapes[key] = (tuple(args[0].shape), tuple(out.shape))
        handles.append(layer.register_forward_hook(hook))
    try:
        with torch.no_grad():
            net(torch.zeros((1, 3) + tuple(net.input_size)))
    finally:
        for h in handles:
            h.remove()
    return shapes


def _nhwc(shape: tuple) -> tuple:
    n, c, h, w = shape
    return (n, h, w, c)


def check_graph(graph, which: str) -> None:
    """Graph-level checks: op histogram, I/O shapes, options of parameter-free ops."""
    want = EXPECTED[which]
    ops = collections.Counter(op.type for op in graph.compute_ops())
    if dict(ops) != want["ops"]:
        raise ValueError("%s graph: operators %s, the PyTorch port models %s"
                         % (which, dict(ops), want["ops"]))
    got_in = [t.shape for t in graph.inputs]
    got_out = [t.shape for t in graph.outputs]
    if got_in != want["inputs"] or got_out != want["outputs"]:
        raise ValueError("%s graph: inputs %s / outputs %s, expected %s / %s"
                         % (which, got_in, got_out, want["inputs"], want["outputs"]))
    adds = collections.Counter(op.options["activation"] for op in graph.compute_ops()
                               if op.type == "ADD")
    if dict(adds) != want["adds"]:
        raise ValueError("%s graph: ADD activations %s, expected %s" % (which, dict(adds),
                                                                       want["adds"]))
    for op in graph.compute_ops():
        name = op.outputs[0].name
        if op.type == "RESIZE_BILINEAR":
            (_, h, w, c), out = op.inputs[0].shape, op.outputs[0].shape
            if op.options != {"align_corners": False, "half_pixel_centers": True} or \
                    out != (1, 2 * h, 2 * w, c):
                raise ValueError("%s: RESIZE_BILINEAR %s %s -> %s, the port assumes a x2 "
                                 "half-pixel upsample" % (name, op.options,
                                                          op.inputs[0].shape, out))
        elif op.type == "DEPTH_TO_SPACE" and op.options.get("block_size") != 2:
            raise ValueError("%s: DEPTH_TO_SPACE %s, expected block_size 2" % (name, op.options))
        elif op.type == "MAX_POOL_2D" and op.options != {
                "filter": (2, 2), "stride": (2, 2), "padding": "VALID", "activation": "NONE"}:
            raise ValueError("%s: MAX_POOL_2D %s, expected 2x2/2 VALID" % (name, op.options))
        elif op.type == "CONCATENATION" and op.options != {"axis": 1, "activation": "NONE"}:
            raise ValueError("%s: CONCATENATION %s, expected axis 1" % (name, op.options))
        elif op.type == "PAD":
            pads = graph.constant(op.inputs[1]).astype(int).tolist()
            if pads[0] != [0, 0] or pads[3] != [0, 0]:
                raise ValueError("%s: PAD %s pads batch or channels" % (name, pads))
            users = [u for u in graph.compute_ops() if any(t is op.outputs[0] for t in u.inputs)]
            if not users or any(u.type not in _KINDS for u in users):
                raise ValueError("%s: PAD feeds %s; the port folds pads into convs only"
                                 % (name, [u.type for u in users]))


def _layer_pads(graph, op) -> Tuple[tuple, Tuple[int, int, int, int]]:
    """(input shape before any PAD op, zero padding (top, bottom, left, right)) of a conv op."""
    x = op.inputs[0]
    extra = [[0, 0], [0, 0]]
    pad_op = graph.producer(x)
    if pad_op is not None and pad_op.type == "PAD":
        extra = graph.constant(pad_op.inputs[1]).astype(int).tolist()[1:3]
        x = pad_op.inputs[0]
    kernel = op.inputs[1].shape[1:3]
    padded = (x.shape[1] + sum(extra[0]), x.shape[2] + sum(extra[1]))
    if op.options["padding"] == "SAME":
        same = [same_pads(n, k, s) for n, k, s in zip(padded, kernel, op.options["stride"])]
    else:
        same = [(0, 0), (0, 0)]
    pads = (extra[0][0] + same[0][0], extra[0][1] + same[0][1],
            extra[1][0] + same[1][0], extra[1][1] + same[1][1])
    return x.shape, pads


def check_layer(graph, op, layer: ConvAct, shapes) -> None:
    """Raise if tflite op `op` is not what PyTorch layer `layer` computes."""
    name = op.inputs[1].name
    kind = _KINDS[op.type]
    if layer.kind != kind:
        raise ValueError("%s: tflite %s where the port has a %s layer" % (name, op.type,
                                                                         layer.kind))
    o = op.options
    if o.get("dilation", (1, 1)) != (1, 1) or o.get("depth_multiplier", 1) != 1:
        raise ValueError("%s: dilation %s / depth multiplier %s are not modelled"
                         % (name, o.get("dilation"), o.get("depth_multiplier")))
    if tuple(layer.stride) != o["stride"]:
        raise ValueError("%s: stride %s, PyTorch layer has %s" % (name, o["stride"],
                                                                 tuple(layer.stride)))
    if o["activation"] not in _ACT or _ACT[o["activation"]] != layer.act:
        raise ValueError("%s: fused activation %s, PyTorch layer applies %s"
                         % (name, o["activation"], layer.act))
    in_shape, pads = _layer_pads(graph, op)
    if pads != layer.pads:
        raise ValueError("%s: tflite pads (top, bottom, left, right) %s, PyTorch layer %s"
                         % (name, pads, layer.pads))
    seen_in, seen_out = shapes[id(layer)]
    if _nhwc(seen_in) != in_shape or _nhwc(seen_out) != op.outputs[0].shape:
        raise ValueError("%s: tflite maps %s -> %s, the PyTorch layer sees %s -> %s (NHWC)"
                         % (name, in_shape, op.outputs[0].shape, _nhwc(seen_in),
                            _nhwc(seen_out)))


def load_weights(net, graph, which: str):
    """Check `graph` against `net` and copy its weights in; returns net in eval mode."""
    check_graph(graph, which)
    order = net.tflite_weight_order()
    ops = [op for op in graph.compute_ops() if op.type in _KINDS]
    if len(ops) != len(order):
        raise ValueError("%s graph has %d weighted layers, the port has %d"
                         % (which, len(ops), len(order)))
    if len({id(m) for m in order}) != len(order) or \
            {id(m) for m in order} != {id(m) for m in net.modules() if isinstance(m, ConvAct)}:
        raise ValueError("tflite_weight_order of %s does not list every layer once"
                         % type(net).__name__)
    shapes = _hook_shapes(net, order)
    with torch.no_grad():
        for op, layer in zip(ops, order):
            check_layer(graph, op, layer, shapes)
            kernel = _torch_layout(layer.kind, graph.constant(op.inputs[1]))
            bias = graph.constant(op.inputs[2])
            if kernel.shape != tuple(layer.weight.shape) or bias.shape != tuple(layer.bias.shape):
                raise ValueError("%s: kernel %s / bias %s, PyTorch layer wants %s / %s"
                                 % (op.inputs[1].name, kernel.shape, bias.shape,
                                    tuple(layer.weight.shape), tuple(layer.bias.shape)))
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            layer.bias.copy_(torch.from_numpy(bias))
    return net.eval()


def load_person_detector(tflite_file=None) -> PersonDetectorNet:
    path = tflite_file or fetch_mediapipe.tflite_path("pose_detector")
    return load_weights(PersonDetectorNet(), read_tflite(path), "detector")


def load_person_landmark(tflite_file=None) -> PersonLandmarkNet:
    path = tflite_file or fetch_mediapipe.tflite_path("pose_landmark")
    return load_weights(PersonLandmarkNet(), read_tflite(path), "landmark")


def load_person_segmenter(tflite_file=None) -> PersonSegmenterNet:
    """The shipped segmenter (PersonSegmenterNet) around the imported landmark network."""
    return PersonSegmenterNet(load_person_landmark(tflite_file)).eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.parse_args(argv)
    for name, loader in (("pose_detector", load_person_detector),
                         ("pose_landmark", load_person_landmark)):
        net = loader()
        print("%-14s %s: %d parameters, %d layers checked against %s"
              % (name, type(net).__name__, count_params(net), len(net.tflite_weight_order()),
                 fetch_mediapipe.tflite_path(name)))


if __name__ == "__main__":
    main()
