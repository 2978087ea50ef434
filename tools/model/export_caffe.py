"""Write our PyTorch matting network as Caffe files for HiLens' `omg` (model/matting.prototxt +
model/matting.caffemodel), using only layers inside the HiLens Caffe operator boundary.

The module tree of `tools.model.selfie_net.SelfieSegNet` is walked in forward order and every
piece is emitted as boundary-legal Caffe layers (tools/model/check_caffe_boundary.py proves the
result):

- conv / depthwise conv -> Convolution (depthwise: group = channels). TensorFlow "SAME" padding
  of the strided convs is asymmetric, which Caffe cannot express; it becomes a symmetric pad of
  the larger side with the kernel grown by the difference and zero taps in front, which puts
  every window exactly where TensorFlow puts it.
- hard-swish x * relu6(x + 3) / 6 -> Scale(+3) -> Relu, Scale(-3) -> Relu,
  Eltwise SUM with coeff (1/6, -1/6) (= relu6(x + 3) / 6), Eltwise PROD with x.
  (Power would need power != 1, and there is no ReLU6/Clip in the table.)
- squeeze-excite / LR-ASPP gates -> Pooling AVE global, Convolution 1x1, Relu, Sigmoid, and
  Scale with the gate as second input (axis 1, gate n x c x 1 x 1: the table's form).
  Global pooling is limited to 10000 inputs; larger maps are first halved by 2x2 AVE pooling.
- x2 bilinear upsample (half-pixel centres) + the 1x1 conv after it -> one Deconvolution
  (kernel 4, stride 2, pad 3) whose weights are the conv's weights times the bilinear taps
  (0.25, 0.75, 0.75, 0.25) in each axis; both are linear, so conv(up(x)) = up(conv(x)).
  The clamp at the borders comes from replicating the edge rows/columns first (Slice + Concat).
  Interp is not used: its align-corners sampling differs from the network's.
- residual adds -> Eltwise SUM; the head -> Deconvolution 2x2/2 + Sigmoid.
- inputs -> Input layers (`image`, and `prev_alpha`: joined by Concat for a stem prior, or fed
  to the FeedbackHead after the network: Sigmoid, Concat, AVE Pooling, Convolution, ReLU, a
  fixed Deconvolution, Eltwise PROD with the prior and SUM with the logits); the output blob
  is `alpha`.

CLI:
  python -m tools.model.export_caffe              # model/matting.* from model/matting.onnx
  python -m tools.model.export_caffe --variant landscape --no-prev-alpha --source mediapipe \
      --output model/selfie_landscape
  python -m tools.model.export_caffe --verify     # OpenCV's Caffe importer vs ONNX Runtime
The OpenCV check needs OpenCV 4.x (5.x dropped the Caffe importer): requirements.txt pins one.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

from tools import paths
from tools.model import caffe_pb
from tools.model.check_caffe_boundary import GLOBAL_POOL_MAX_HW, check_net, output_shapes

# bilinear x2 with half-pixel centres, as transposed-conv taps: out[2i] = .25 in[i-1] + .75 in[i],
# out[2i+1] = .75 in[i] + .25 in[i+1]
BILINEAR_X2_TAPS = np.array([0.25, 0.75, 0.75, 0.25], dtype=np.float32)


class CaffeNetBuilder:
    """Accumulates Caffe layers (dicts in caffe_pb's form) and the shapes of their tops."""

    def __init__(self, name):
        self.name = name
        self.layers = []
        self.shapes = {}

    def add(self, name, kind, bottoms, param_name=None, params=None, blobs=None, tops=None):
        if any(layer["name"] == name for layer in self.layers):
            raise ValueError("duplicate Caffe layer name %r" % name)
        layer = {"name": name, "type": kind, "bottom": list(bottoms), "top": tops or [name]}
        if param_name is not None:
            layer[param_name] = params or {}
        if blobs is not None:
            layer["blobs"] = [caffe_pb.blob(b) for b in blobs]
        outs = output_shapes(layer, [self.shapes[b] for b in bottoms])
        for top, shape in zip(layer["top"], outs):
            self.shapes[top] = shape
        self.layers.append(layer)
        return layer["top"] if tops else layer["top"][0]

    # ------------------------------------------------------------ layers

    def input(self, name, shape):
        return self.add(name, "Input", [], "input_param",
                        {"shape": [{"dim": [int(d) for d in shape]}]})

    def conv(self, name, x, weight, bias, stride=(1, 1), pad=(0, 0), group=1):
        return self._conv(name, "Convolution", x, weight, bias, stride, pad, group)

    def deconv(self, name, x, weight, bias, stride, pad):
        return self._conv(name, "Deconvolution", x, weight, bias, stride, pad, 1)

    def _conv(self, name, kind, x, weight, bias, stride, pad, group):
        weight = np.asarray(weight, dtype=np.float32)
        kernel = weight.shape[2:]
        num_output = weight.shape[1] if kind == "Deconvolution" else weight.shape[0]
        params = {"num_output": int(num_output), "bias_term": bias is not None}
        params.update(_size_params("pad", pad) if any(pad) else {})
        params.update(_size_params("kernel", kernel, "kernel_size"))
        params.update(_size_params("stride", stride) if tuple(stride) != (1, 1) else {})
        if group != 1:
            params["group"] = int(group)
        blobs = [weight] + ([np.asarray(bias, dtype=np.float32)] if bias is not None else [])
        return self.add(name, kind, [x], "convolution_param", params, blobs)

    def relu(self, name, x):
        return self.add(name, "ReLU", [x])

    def sigmoid(self, name, x):
        return self.add(name, "Sigmoid", [x])

    def eltwise(self, name, xs, operation, coeff=None):
        params = {"operation": operation}
        if coeff is not None:
            params["coeff"] = [float(c) for c in coeff]
        return self.add(name, "Eltwise", xs, "eltwise_param", params)

    def affine(self, name, x, scale, shift):
        """Per-channel scale * x + shift (Scale with constant blobs)."""
        channels = self.shapes[x][1]
        blobs = [np.full(channels, scale, np.float32), np.full(channels, shift, np.float32)]
        return self.add(name, "Scale", [x], "scale_param",
                        {"axis": 1, "num_axes": 1, "bias_term": True}, blobs)

    def scale_by(self, name, x, gate):
        """x * gate, gate being N x C x 1 x 1."""
        return self.add(name, "Scale", [x, gate], "scale_param", {"axis": 1})

    def global_mean(self, name, x):
        h, w = self.shapes[x][2:]
        step = 0
        while h * w > GLOBAL_POOL_MAX_HW:
            if h % 2 or w % 2:
                raise ValueError("%s: cannot reduce a %dx%d map below %d values with exact 2x2 "
                                 "means" % (name, h, w, GLOBAL_POOL_MAX_HW))
            # a mean of 2x2 means is the mean: keeps the global pool inside its 10000 limit
            x = self.add("%s/halve%d" % (name, step), "Pooling", [x], "pooling_param",
                         {"pool": "AVE", "kernel_size": 2, "stride": 2})
            h, w, step = h // 2, w // 2, step + 1
        return self.add(name, "Pooling", [x], "pooling_param",
                        {"pool": "AVE", "global_pooling": True})

    def concat(self, name, xs, axis=1):
        return self.add(name, "Concat", xs, "concat_param", {"axis": axis})

    def slice(self, name, x, axis, points):
        tops = ["%s/%d" % (name, i) for i in range(len(points) + 1)]
        return self.add(name, "Slice", [x], "slice_param",
                        {"axis": axis, "slice_point": [int(p) for p in points]}, tops=tops)

    # ------------------------------------------------------------ files

    def net(self, with_blobs):
        layers = []
        for layer in self.layers:
            layer = dict(layer)
            if not with_blobs:
                layer.pop("blobs", None)
            layers.append(layer)
        return {"name": self.name, "layer": layers}

    def prototxt(self):
        return caffe_pb.to_text("NetParameter", self.net(with_blobs=False)) + "\n"

    def caffemodel(self):
        return caffe_pb.encode("NetParameter", self.net(with_blobs=True))


def _size_params(name, pair, repeated_name=None):
    """{name: [v]} when both axes agree, else {name_h, name_w} (Caffe's two spellings)."""
    h, w = int(pair[0]), int(pair[1])
    if h == w:
        return {repeated_name or name: [h]}
    return {name + "_h": h, name + "_w": w}


# ---------------------------------------------------------------- the module walk

def _np(t):
    return None if t is None else t.detach().cpu().numpy().astype(np.float32)


def emit_conv(b, name, x, conv):
    """nn.Conv2d (or SameConv2d with its explicit asymmetric pad) as one Convolution."""
    if tuple(conv.dilation) != (1, 1) or conv.padding_mode != "zeros":
        raise ValueError("%s: only zero-padded, undilated convs are exported" % name)
    weight = _np(conv.weight)
    pads = [(conv.padding[0],) * 2, (conv.padding[1],) * 2]
    extra = getattr(conv, "extra_pad", None)
    if extra is not None:  # F.pad order: left, right, top, bottom
        pads = [(pads[0][0] + extra[2], pads[0][1] + extra[3]),
                (pads[1][0] + extra[0], pads[1][1] + extra[1])]
    caffe_pad = []
    for axis, (before, after) in enumerate(pads):
        grow = abs(after - before)
        if grow:
            # pad both sides by the larger amount; grow the kernel on the side that got the
            # extra padding with zero taps, so the real taps stay where TensorFlow puts them
            widths = [(0, 0)] * 4
            widths[2 + axis] = (grow, 0) if after > before else (0, grow)
            weight = np.pad(weight, widths)
        caffe_pad.append(max(before, after))
    return b.conv(name, x, weight, _np(conv.bias), tuple(conv.stride), tuple(caffe_pad),
                  conv.groups)


def emit_hard_swish(b, name, x):
    plus = b.relu(name + "/relu_plus3", b.affine(name + "/plus3", x, 1.0, 3.0))
    minus = b.relu(name + "/relu_minus3", b.affine(name + "/minus3", x, 1.0, -3.0))
    # relu(x + 3) - relu(x - 3) = relu6(x + 3)
    gate = b.eltwise(name + "/hsigmoid", [plus, minus], "SUM", (1.0 / 6.0, -1.0 / 6.0))
    return b.eltwise(name, [x, gate], "PROD")


def emit_activation(b, name, x, module):
    from torch import nn

    from tools.model.selfie_net import HardSwish
    if isinstance(module, nn.ReLU):
        return b.relu(name, x)
    if isinstance(module, HardSwish):
        return emit_hard_swish(b, name, x)
    raise ValueError("%s: no Caffe form for activation %s" % (name, type(module).__name__))


def emit_se_gate(b, name, x, se):
    s = b.global_mean(name + "/mean", x)
    s = b.relu(name + "/reduce_relu", emit_conv(b, name + "/reduce", s, se.reduce))
    return b.sigmoid(name + "/sigmoid", emit_conv(b, name + "/expand", s, se.expand))


def emit_inverted_residual(b, name, x, block):
    y = emit_activation(b, name + "/expand_act", emit_conv(b, name + "/expand", x, block.expand),
                        block.expand_act)
    y = emit_activation(b, name + "/depthwise_act",
                        emit_conv(b, name + "/depthwise", y, block.depthwise),
                        block.depthwise_act)
    if block.se is not None:
        y = b.scale_by(name + "/se", y, emit_se_gate(b, name + "/se", y, block.se))
    y = emit_conv(b, name + "/project", y, block.project)
    return b.eltwise(name + "/residual", [x, y], "SUM") if block.residual else y


def emit_lraspp(b, name, x, head):
    features = b.relu(name + "/features_relu", emit_conv(b, name + "/features", x, head.features))
    gate = b.sigmoid(name + "/context_sigmoid",
                     emit_conv(b, name + "/context", b.global_mean(name + "/mean", x),
                               head.context))
    return b.scale_by(name, features, gate)


def replicate_pad1(b, name, x, axis):
    """x with its first and last row (axis 2) or column (axis 3) repeated once."""
    n = b.shapes[x][axis]
    if n == 1:
        parts = [x, x, x]
    elif n == 2:
        first, last = b.slice(name + "/slice", x, axis, [1])
        parts = [first, first, last, last]
    else:
        first, middle, last = b.slice(name + "/slice", x, axis, [1, n - 1])
        parts = [first, first, middle, last, last]
    return b.concat(name, parts, axis)


def emit_upsample_conv1x1(b, name, x, conv):
    """conv(F.interpolate(x, scale_factor=2, bilinear, align_corners=False)) for a 1x1 conv."""
    if conv.kernel_size != (1, 1) or conv.groups != 1:
        raise ValueError("%s: the fused upsample expects a plain 1x1 conv" % name)
    x = replicate_pad1(b, name + "/pad_w", x, 3)
    x = replicate_pad1(b, name + "/pad_h", x, 2)
    mix = _np(conv.weight)[:, :, 0, 0].T  # (in, out): Deconvolution blobs are C_in x C_out
    weight = mix[:, :, None, None] * np.outer(BILINEAR_X2_TAPS, BILINEAR_X2_TAPS)
    return b.deconv(name, x, weight, _np(conv.bias), (2, 2), (3, 3))


def emit_decoder_stage(b, name, x, skip, stage):
    decoded = emit_upsample_conv1x1(b, name + "/up_reduce", x, stage.reduce)
    summed = b.eltwise(name + "/merge/sum", [skip, decoded], "SUM")
    gated = b.scale_by(name + "/merge/gated_skip", skip,
                       emit_se_gate(b, name + "/merge/se", summed, stage.merge.se))
    x = b.eltwise(name + "/merge", [gated, decoded], "SUM")
    x = b.relu(name + "/refine_relu", emit_conv(b, name + "/refine", x, stage.refine))
    y = b.relu(name + "/depthwise_relu", emit_conv(b, name + "/depthwise", x, stage.depthwise))
    return b.eltwise(name + "/residual", [x, y], "SUM")


def emit_head(b, name, x, head, output="alpha", feedback=None, prior=None):
    """The 2x2/2 transposed conv and the sigmoid; with a FeedbackHead (`feedback`, fed by the
    `prior` blob) in between: logits + correction(sigmoid(logits), prior)."""
    deconv = head.deconv
    if tuple(deconv.padding) != (0, 0) or tuple(deconv.output_padding) != (0, 0) \
            or deconv.groups != 1 or tuple(deconv.dilation) != (1, 1):
        raise ValueError("%s: only a plain ConvTranspose2d head is exported" % name)
    y = b.deconv(name + "/deconv", x, _np(deconv.weight), _np(deconv.bias),
                 tuple(deconv.stride), (0, 0))
    if feedback is not None:
        y = emit_feedback_head(b, "feedback", y, prior, feedback)
    return b.sigmoid(output, y)


def emit_feedback_head(b, name, logits, prior, head):
    """tools.model.selfie_net.FeedbackHead: Sigmoid, Concat with the prior, Pooling AVE 2x2/2
    (half size), Convolution 3x3 + ReLU (local), Convolution 1x1 + ReLU + Pooling AVE 5x5/1
    pad 2 (motion: Caffe divides by the whole window, padding included, as count_include_pad
    does), Concat, Convolution 1x1 + ReLU, Convolution 1x1, Deconvolution 2x2/2 of ones (each
    value repeated over its 2x2 block), Eltwise PROD with the prior, Eltwise SUM with the
    logits."""
    x = b.concat(name + "/inputs", [b.sigmoid(name + "/opinion", logits), prior])
    x = b.add(name + "/half", "Pooling", [x], "pooling_param",
              {"pool": "AVE", "kernel_size": 2, "stride": 2})
    local = b.relu(name + "/spatial_relu", emit_conv(b, name + "/spatial", x, head.spatial))
    k = head.MOTION_WINDOW
    motion = b.relu(name + "/motion_relu", emit_conv(b, name + "/motion", x, head.motion))
    motion = b.add(name + "/motion_mean", "Pooling", [motion], "pooling_param",
                   {"pool": "AVE", "kernel_size": k, "stride": 1, "pad": k // 2})
    y = b.concat(name + "/features", [local, motion])
    y = b.relu(name + "/mix_relu", emit_conv(b, name + "/mix", y, head.mix))
    y = b.deconv(name + "/repeat2", emit_conv(b, name + "/out", y, head.out),
                 _np(head.repeat2), None, (2, 2), (0, 0))
    y = b.eltwise(name + "/by_prior", [y, prior], "PROD")
    return b.eltwise(name + "/logits", [logits, y], "SUM")


def build_caffe_net(model, name="matting"):
    """CaffeNetBuilder holding `model` (a SelfieSegNet) in forward order."""
    from tools.model.selfie_net import SKIP_BLOCKS
    h, w = model.input_size
    b = CaffeNetBuilder(name)
    x = b.input("image", (1, 3, h, w))
    prior = None
    if model.prior_at == "stem":
        x = b.concat("image_and_prev_alpha", [x, b.input("prev_alpha", (1, 1, h, w))])
    elif model.prior_at == "head":
        prior = b.input("prev_alpha", (1, 1, h, w))
    x = emit_hard_swish(b, "stem/act", emit_conv(b, "stem/conv", x, model.stem.conv))
    skips = [x]
    for i, block in enumerate(model.encoder):
        x = emit_inverted_residual(b, "encoder%d" % i, x, block)
        if i in SKIP_BLOCKS:
            skips.append(x)
    x = emit_lraspp(b, "lraspp", x, model.lraspp)
    for i, (stage, skip) in enumerate(zip(model.decoder, reversed(skips))):
        x = emit_decoder_stage(b, "decoder%d" % i, x, skip, stage)
    emit_head(b, "head", x, model.head, feedback=model.feedback, prior=prior)
    return b


def write_caffe(model, basename, name="matting"):
    """Write basename.prototxt and basename.caffemodel; returns the two paths."""
    b = build_caffe_net(model, name)
    proto, weights = str(basename) + ".prototxt", str(basename) + ".caffemodel"
    os.makedirs(os.path.dirname(os.path.abspath(proto)), exist_ok=True)
    with open(proto, "w", encoding="utf-8") as f:
        f.write(b.prototxt())
    with open(weights, "wb") as f:
        f.write(b.caffemodel())
    return proto, weights


# ---------------------------------------------------------------- weights

def load_weights_from_onnx(model, onnx_path):
    """Copy the ONNX file's initializers into `model` by parameter name (torch.onnx.export
    keeps the state_dict names); every parameter must be found with its shape."""
    import onnx
    import torch
    from onnx import numpy_helper
    graph = onnx.load(str(onnx_path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = model.state_dict()
    missing = [k for k, v in state.items()
               if k not in inits or tuple(inits[k].shape) != tuple(v.shape)]
    if missing:
        raise ValueError("%s lacks (or has other shapes for) %d parameter(s) of the PyTorch "
                         "model, e.g. %s" % (onnx_path, len(missing), ", ".join(missing[:4])))
    model.load_state_dict({k: torch.from_numpy(np.array(inits[k])) for k in state})
    return model


def feedback_layout(shapes):
    """(prior_at, head channels) of a weight set {name: shape}: a FeedbackHead's weights
    (feedback.*) mean the prior enters after the network, else at the stem."""
    out = shapes.get("feedback.out.weight")
    return ("head", int(out[1])) if out is not None else ("stem", 8)


def make_model(variant, prev_alpha, source, onnx_path=None, checkpoint=None):
    import torch

    from tools.model.selfie_net import SelfieSegNet
    if source == "mediapipe":
        from tools.model.mediapipe_import import load_selfie_net
        model = load_selfie_net(variant, prev_alpha)
    elif source == "onnx":
        import onnx
        graph = onnx.load(str(onnx_path)).graph
        prior_at, channels = feedback_layout({i.name: tuple(i.dims) for i in graph.initializer})
        model = SelfieSegNet(variant, prev_alpha, prior_at if prev_alpha else "stem", channels)
        load_weights_from_onnx(model, onnx_path)
    elif source == "checkpoint":
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)  # no code
        state = state.get("model", state) if isinstance(state, dict) else state
        prior_at, channels = feedback_layout({k: tuple(v.shape) for k, v in state.items()})
        model = SelfieSegNet(variant, prev_alpha, prior_at if prev_alpha else "stem", channels)
        model.load_state_dict(state)
    else:
        raise ValueError("unknown weight source %r" % source)
    return model.eval()


# ---------------------------------------------------------------- OpenCV cross-check

def run_opencv_caffe(prototxt, caffemodel, feeds, output="alpha", onnx_path=None):
    """Run the Caffe files with OpenCV's own Caffe importer (independent of our writer).

    feeds: list of {input name: NCHW float32 array}. Returns one `output` array per feed (with
    several comma-separated blob names in `output`: one list of arrays per feed). With
    `onnx_path`, a pair (Caffe outputs, outputs of OpenCV's own run of that ONNX file), which
    tells the conversion's error apart from OpenCV's float32 arithmetic.
    """
    import cv2
    if not hasattr(cv2.dnn, "readNetFromCaffe"):
        raise RuntimeError("OpenCV %s has no Caffe importer (OpenCV 5 dropped it); install the "
                           "opencv-python-headless pinned in requirements.txt" % cv2.__version__)
    nets = [cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))]
    if onnx_path:
        nets.append(cv2.dnn.readNetFromONNX(str(onnx_path)))
    names = output.split(",")
    results = []
    for net in nets:
        per_feed = []
        for feed in feeds:
            for name, blob in feed.items():
                net.setInput(np.ascontiguousarray(blob, np.float32), name)
            outs = [o.copy() for o in net.forward(names)]
            per_feed.append(outs if len(names) > 1 else outs[0])
        results.append(per_feed)
    return (results[0], results[1]) if onnx_path else results[0]


def real_frames(size_hw, count=8, seed=0):
    """`count` RGB uint8 frames at size_hw from the shared data (tools/paths.py): hsd photos
    and GIF frames."""
    import cv2
    rng = np.random.default_rng(seed)
    photo_dir = paths.require(paths.hsd() / "images", "hsd photo folder")
    photos = sorted(glob.glob(str(photo_dir / "*.jpg")))
    videos = sorted(glob.glob(str(paths.require(paths.videos(), "video folder") / "*.gif")))
    if not photos or not videos:
        raise FileNotFoundError("no hsd photos / GIF clips under %s" % paths.shared_data())
    frames = []
    for path in rng.choice(photos, size=count - count // 2, replace=False):
        frames.append(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
    for i in range(count // 2):
        cap = cv2.VideoCapture(videos[i % len(videos)])
        total = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 1)
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(rng.integers(total)))
        ok, frame = cap.read()
        cap.release()
        if not ok:
            raise IOError("cannot read a frame of %s" % videos[i % len(videos)])
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    h, w = size_hw
    return [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]


def feeds_for_frames(frames, with_prev_alpha, seed=0):
    """Model feeds (image = RGB / 255); for the feedback model prev_alpha alternates between
    zeros ("no prior") and a smooth random prior."""
    import cv2
    rng = np.random.default_rng(seed)
    feeds = []
    for i, frame in enumerate(frames):
        feed = {"image": (frame.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]}
        if with_prev_alpha:
            h, w = frame.shape[:2]
            prior = np.zeros((h, w), np.float32)
            if i % 2:
                coarse = rng.random((h // 8, w // 8)).astype(np.float32)
                prior = cv2.resize(cv2.GaussianBlur(coarse, (0, 0), 1), (w, h),
                                   interpolation=cv2.INTER_LINEAR)
            feed["prev_alpha"] = np.clip(prior, 0, 1)[None, None].astype(np.float32)
        feeds.append(feed)
    return feeds


# OpenCV's float32 kernels alone (its own run of the ONNX file) differ from ONNX Runtime by up
# to 1.4e-4 on this network (logits reach +-200), so the Caffe run is held to 1e-4 against
# OpenCV's ONNX run (same arithmetic: only the conversion differs) and to 2e-4 against ORT.
MAX_DIFF_VS_OPENCV_ONNX = 1e-4
MAX_DIFF_VS_ORT = 2e-4


def compare_with_onnx(prototxt, caffemodel, onnx_path, count=8, seed=0):
    """Per-frame max |alpha difference| of OpenCV(Caffe files) against ONNX Runtime and against
    OpenCV's own run of the ONNX file, over `count` real frames."""
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    h, w = sess.get_inputs()[0].shape[2:]
    feeds = feeds_for_frames(real_frames((h, w), count, seed), "prev_alpha" in names, seed)
    caffe_out, cv_onnx_out = run_opencv_caffe(prototxt, caffemodel, feeds, onnx_path=onnx_path)
    vs_ort, vs_cv = [], []
    for feed, got, cv_ref in zip(feeds, caffe_out, cv_onnx_out):
        want = sess.run(["alpha"], feed)[0]
        if got.shape != want.shape:
            raise ValueError("Caffe output %s vs ONNX %s" % (got.shape, want.shape))
        vs_ort.append(float(np.abs(got - want).max()))
        vs_cv.append(float(np.abs(got - cv_ref).max()))
    return {"vs_ort": vs_ort, "vs_opencv_onnx": vs_cv}


# ---------------------------------------------------------------- CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="landscape", choices=("landscape", "square"))
    ap.add_argument("--prev-alpha", dest="prev_alpha", action="store_true", default=True,
                    help="feedback model with the prev_alpha input (default)")
    ap.add_argument("--no-prev-alpha", dest="prev_alpha", action="store_false")
    ap.add_argument("--source", choices=("onnx", "mediapipe", "checkpoint"), default="onnx",
                    help="where the weights come from (default: the ONNX file)")
    ap.add_argument("--onnx", default=str(paths.REPO / "model" / "matting.onnx"),
                    help="ONNX model: weight source for --source onnx, reference for --verify")
    ap.add_argument("--checkpoint", help="PyTorch state_dict for --source checkpoint")
    ap.add_argument("--output", default=str(paths.REPO / "model" / "matting"),
                    help="basename of the .prototxt/.caffemodel pair")
    ap.add_argument("--name", default=None, help="Caffe net name (default: output basename)")
    ap.add_argument("--verify", action="store_true",
                    help="only compare the existing Caffe files with the ONNX model (OpenCV 4)")
    ap.add_argument("--frames", type=int, default=8, help="real frames for --verify")
    args = ap.parse_args(argv)
    try:
        proto, weights = args.output + ".prototxt", args.output + ".caffemodel"
        if args.verify:
            for path in (proto, weights, args.onnx):
                if not os.path.exists(path):
                    raise FileNotFoundError("missing %s" % path)
            diffs = compare_with_onnx(proto, weights, args.onnx, args.frames)
            worst = {k: max(v) for k, v in diffs.items()}
            print(json.dumps({"frames": args.frames, "max_abs_diff": worst}))
            ok = worst["vs_ort"] <= MAX_DIFF_VS_ORT and \
                worst["vs_opencv_onnx"] <= MAX_DIFF_VS_OPENCV_ONNX
            return 0 if ok else 1
        if args.source == "onnx" and not os.path.exists(args.onnx):
            raise FileNotFoundError("missing %s (the weight source; see --source)" % args.onnx)
        model = make_model(args.variant, args.prev_alpha, args.source, args.onnx, args.checkpoint)
        proto, weights = write_caffe(model, args.output,
                                     args.name or os.path.basename(args.output))
        _, violations, census, _, _ = check_net(caffe_pb.read_net(proto, weights))
        print("wrote %s and %s: %d layers (%s)" % (
            proto, weights, sum(census.values()),
            ", ".join("%s %d" % kv for kv in sorted(census.items()))))
        if violations:
            print("boundary violations:\n  " + "\n  ".join(violations), file=sys.stderr)
            return 1
        return 0
    except (OSError, ValueError, RuntimeError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
