"""Model runners for the evaluation tools: one call = one frame through a segmentation model.

A runner is any callable `runner(bgr_small, prev) -> alpha` with three attributes:
- `size`: (w, h) of the model input; `bgr_small` is a uint8 HxWx3 BGR picture already resized
  to it, `alpha` a float32 HxW map in [0, 1] at the same size.
- `feedback`: True when the model has the `prev_alpha` input; `prev` is then a float32 HxW
  map in [0, 1] (zeros = no prior). Runners without feedback get `prev=None`.
- `name`: a label for tables.

Runners here:
- `OnnxRgbRunner(path)`: ONNX Runtime on the float RGB that aipp.cfg's normalisation gives
  (no NV21 round trip) - the apples-to-apples comparison with MediaPipe's own runtime.
- `AippRunner(path)`: the device path. BGR -> NV21 with `hilens.cvt_color`, then
  `hilens.Model(...).infer([nv21, prev])`, which applies aipp.cfg exactly as the .om would.
  The model is linked into a temporary folder beside an aipp.cfg derived from the repo's one
  with src_image_size set to the model's size, so any input size works without touching
  the repo's aipp.cfg.
- `FnRunner(fn, size, feedback)`: wraps `fn(image, prev) -> alpha` on NCHW float arrays
  (image 1x3xHxW normalised RGB, prev 1x1xHxW or None), e.g. a training loop's model.
- `TorchRunner(module, size, feedback)`: the same for a torch.nn.Module, so checkpoints can be
  evaluated without ONNX export (torch is imported only when this is used).

`resize_to_model(bgr, w, h, mode)`: 'linear' is cv2.resize INTER_LINEAR (stretched, as the
device's Preprocessor.resize does); 'mediapipe' reproduces MediaPipe's ImageToTensorCalculator
on CPU (warp mapping image corners onto tensor corners, bilinear, zero border).
"""
import os
import re
import shutil
import tempfile
import time

import cv2
import numpy as np

from tools import paths

DEFAULT_AIPP = str(paths.REPO / "aipp.cfg")
RESIZE_MODES = ("linear", "mediapipe")


def resize_to_model(bgr, w, h, mode="linear"):
    """Stretch an image to w x h (no aspect keep), the way `mode` names."""
    if mode == "linear":
        return cv2.resize(bgr, (w, h), interpolation=cv2.INTER_LINEAR)
    if mode == "mediapipe":
        src_h, src_w = bgr.shape[:2]
        # Corner (0,0)->(0,0) and (W,H)->(w,h): no half-pixel shift, unlike cv2.resize.
        m = np.array([[w / float(src_w), 0, 0], [0, h / float(src_h), 0]], np.float64)
        return cv2.warpAffine(bgr, m, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    raise ValueError("resize mode %r unknown, expected one of %s" % (mode, ", ".join(RESIZE_MODES)))


def read_aipp(path):
    if not os.path.isfile(path):
        raise FileNotFoundError("aipp config not found: %s" % path)
    with open(path) as f:
        return f.read()


def aipp_values(text):
    """The `key: number` settings of the first aipp_op block (comments stripped)."""
    values = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        m = re.match(r"\s*(\w+)\s*:\s*([-+0-9.eE]+)\s*$", line)
        if m:
            values.setdefault(m.group(1), float(m.group(2)))
    return values


def aipp_normalisation(text):
    """(subtract, scale) per RGB channel: out = (in - mean - min) * var_reci, as the AIPP does."""
    v = aipp_values(text)
    sub = np.array([v.get("mean_chn_%d" % i, 0.0) + v.get("min_chn_%d" % i, 0.0)
                    for i in range(3)], np.float32)
    scale = np.array([v.get("var_reci_chn_%d" % i, 1.0) for i in range(3)], np.float32)
    return sub, scale


def aipp_for_size(text, w, h):
    """The cfg text with src_image_size_w/h set to w/h (added when absent)."""
    for key, val in (("src_image_size_w", w), ("src_image_size_h", h)):
        pattern = r"(\b%s\s*:\s*)\d+" % key
        if re.search(pattern, text):
            text = re.sub(pattern, r"\g<1>%d" % val, text, count=1)
        else:
            text = re.sub(r"(aipp_op\s*\{)", r"\1\n    %s: %d" % (key, val), text, count=1)
    return text


def bgr_to_nchw(bgr_small, sub, scale):
    rgb = bgr_small[:, :, ::-1].astype(np.float32)
    rgb = (rgb - sub) * scale
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])


def onnx_signature(path):
    """(w, h, feedback, input names, output name) of a model-contract ONNX file."""
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return _signature(sess, path)


def _signature(sess, path):
    inputs = sess.get_inputs()
    shape = inputs[0].shape
    if len(shape) != 4 or shape[1] != 3 or not all(isinstance(d, int) for d in shape[2:]):
        raise ValueError("%s: input 0 must be 1x3xHxW with static H, W, got %s" % (path, shape))
    if len(inputs) > 2:
        raise ValueError("%s: expected 1 or 2 inputs (image[, prev_alpha]), got %d"
                         % (path, len(inputs)))
    h, w = shape[2], shape[3]
    if len(inputs) == 2 and list(inputs[1].shape)[-2:] != [h, w]:
        raise ValueError("%s: prev_alpha must be 1x1x%dx%d, got %s" % (path, h, w, inputs[1].shape))
    return w, h, len(inputs) == 2, [i.name for i in inputs], sess.get_outputs()[0].name


def _check_model_path(path):
    if not os.path.isfile(path):
        raise FileNotFoundError("model not found: %s" % path)


def _session(path, threads):
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def _as_alpha(out, w, h, who):
    a = np.asarray(out, np.float32)
    if a.size != w * h:
        raise ValueError("%s returned %d values, expected %dx%d alpha" % (who, a.size, w, h))
    return a.reshape(h, w)


class OnnxRgbRunner(object):
    """ONNX Runtime fed float RGB normalised as aipp.cfg says (no NV21)."""

    def __init__(self, path, aipp_cfg=DEFAULT_AIPP, threads=1, name=None):
        _check_model_path(path)
        self.sess = _session(path, threads)
        w, h, self.feedback, self.inputs, self.output = _signature(self.sess, path)
        self.size = (w, h)
        self.sub, self.scale = aipp_normalisation(read_aipp(aipp_cfg))
        self.name = name or os.path.basename(path)

    def __call__(self, bgr_small, prev):
        w, h = self.size
        feed = {self.inputs[0]: bgr_to_nchw(bgr_small, self.sub, self.scale)}
        if self.feedback:
            feed[self.inputs[1]] = np.asarray(prev, np.float32).reshape(1, 1, h, w)
        return _as_alpha(self.sess.run([self.output], feed)[0], w, h, self.name)


class AippRunner(object):
    """The device path through the `hilens` simulator: NV21 in, AIPP inside the model."""

    def __init__(self, path, aipp_cfg=DEFAULT_AIPP, threads=1, name=None):
        import hilens
        _check_model_path(path)
        self.hilens = hilens
        w, h, self.feedback, _, _ = onnx_signature(path)
        self.size = (w, h)
        self.name = name or os.path.basename(path)
        self.tmp = tempfile.mkdtemp(prefix="eval_seg_")
        # The simulator loads x.onnx for x.om and finds aipp.cfg beside it.
        os.symlink(os.path.abspath(path), os.path.join(self.tmp, "model.onnx"))
        with open(os.path.join(self.tmp, "aipp.cfg"), "w") as f:
            f.write(aipp_for_size(read_aipp(aipp_cfg), w, h))
        # The simulator reads its ONNX Runtime thread count from the environment at load time.
        old = os.environ.get("HILENS_ORT_THREADS")
        os.environ["HILENS_ORT_THREADS"] = str(threads)
        try:
            self.model = hilens.Model(os.path.join(self.tmp, "model.om"))
        finally:
            if old is None:
                os.environ.pop("HILENS_ORT_THREADS", None)
            else:
                os.environ["HILENS_ORT_THREADS"] = old

    def __call__(self, bgr_small, prev):
        w, h = self.size
        if bgr_small.shape[:2] != (h, w):
            raise ValueError("%s: frame is %dx%d, expected the model size %dx%d"
                             % (self.name, bgr_small.shape[1], bgr_small.shape[0], w, h))
        nv21 = self.hilens.cvt_color(np.ascontiguousarray(bgr_small), self.hilens.BGR2YUV_NV21)
        if nv21 is None or np.size(nv21) != w * h * 3 // 2:
            raise RuntimeError("%s: hilens.cvt_color gave no NV21 for a %dx%d frame"
                               % (self.name, w, h))
        inputs = [np.ascontiguousarray(nv21, np.uint8).ravel()]
        if self.feedback:
            inputs.append(np.ascontiguousarray(prev, np.float32).ravel())
        out = self.model.infer(inputs)
        if isinstance(out, (int, np.integer)):
            raise RuntimeError("%s: hilens Model.infer returned error code %s" % (self.name, out))
        return _as_alpha(out[0], w, h, self.name)

    def close(self):
        if getattr(self, "tmp", None):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __del__(self):
        self.close()


class FnRunner(object):
    """Wraps fn(image 1x3xHxW float32, prev 1x1xHxW float32 or None) -> alpha (h*w values)."""

    def __init__(self, fn, size, feedback, name="fn", aipp_cfg=DEFAULT_AIPP):
        self.fn = fn
        self.size = tuple(size)
        self.feedback = bool(feedback)
        self.name = name
        self.sub, self.scale = aipp_normalisation(read_aipp(aipp_cfg))

    def __call__(self, bgr_small, prev):
        w, h = self.size
        image = bgr_to_nchw(bgr_small, self.sub, self.scale)
        p = np.asarray(prev, np.float32).reshape(1, 1, h, w) if self.feedback else None
        return _as_alpha(self.fn(image, p), w, h, self.name)


class TorchRunner(FnRunner):
    """A torch module called as module(image) or module(image, prev) in eval mode, no grad.

    The module's output (or the first element of a tuple/list output) must hold 1x1xHxW alpha.
    """

    def __init__(self, module, size, feedback, name="torch", aipp_cfg=DEFAULT_AIPP, device="cpu"):
        import torch
        self.torch = torch
        self.module = module
        self.device = device

        def fn(image, prev):
            was_training = module.training
            module.eval()
            try:
                with torch.no_grad():
                    args = [torch.from_numpy(image).to(device)]
                    if prev is not None:
                        args.append(torch.from_numpy(prev).to(device))
                    out = module(*args)
            finally:
                module.train(was_training)
            if isinstance(out, (tuple, list)):
                out = out[0]
            return out.detach().float().cpu().numpy()

        FnRunner.__init__(self, fn, size, feedback, name=name, aipp_cfg=aipp_cfg)


def timed(runner, *args):
    """(alpha, milliseconds) of one runner call, runner(bgr_small, prev)."""
    t0 = time.perf_counter()
    alpha = runner(*args)
    return alpha, (time.perf_counter() - t0) * 1e3
