"""Helpers for the test_skill_* tests (no tests here): synthetic frames, a hilens.Model
look-alike in pure numpy, and tiny ONNX models + aipp.cfg for runs through the simulator."""
import os
import re
import signal

import cv2
import numpy as np

from utils import config, nv21

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ERROR_CODE = 0x1013012  # what a fake model returns for a wrong input size/count


def scene(w, h, box=None, fg=(220, 220, 220), bg=(40, 40, 40), as_bgr=False):
    """A dark frame with a bright rectangle (the 'person') at box=(x0, y0, x1, y1)."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    if box is not None:
        x0, y0, x1, y1 = box
        img[y0:y1, x0:x1] = fg
    return img if as_bgr else nv21.bgr_to_nv21(img)


def signals_at_default():
    """preexec_fn for a child the test sends signals to: SIGHUP, SIGINT and SIGTERM at their
    defaults, as a service manager starts it, not as this run inherited them (under `nohup`
    SIGHUP is ignored, in a shell's background job SIGINT, and an ignored signal stays ignored
    across exec: the child would never see it)."""
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def small_cfg(**changes):
    """Defaults for tests: model 128x72 (fits FakeModel / tiny ONNX), grey background."""
    base = dict(model_width=128, model_height=72, background="#5a5a5a")
    base.update(changes)
    return config.load_config(None, None).replace(**base)


class Clock(object):
    """A clock to inject into the camera and the log (time()) with its sleep(): time moves only
    when the code under test sleeps, so waits and backoffs are counted, not waited."""

    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


class FakeModel(object):
    """hilens.Model look-alike: alpha = 1 where the model-size Y is bright.

    kind: 'bright' (ignores the prior), 'echo' (returns the prior: the worst case for
    ghosts), 'max' (max of bright and prior: a model that trusts its prior too much).
    `script` is a list of per-call overrides: None (normal), an int (error code), 'nan',
    'inf', 'raise', 'short' (wrong output size)."""

    def __init__(self, w, h, kind="bright", feedback=True, script=None):
        self.w, self.h = w, h
        self.kind = kind
        self.feedback = feedback
        self.script = list(script or [])
        self.calls = []  # number of inputs per call
        self.priors = []  # copy of each prior fed

    def infer(self, inputs):
        self.calls.append(len(inputs))
        for x in inputs:
            if not isinstance(x, np.ndarray) or x.dtype not in (np.uint8, np.float32):
                raise ValueError("inputs must be uint8 or float32 arrays")
        if len(inputs) != (2 if self.feedback else 1):
            return ERROR_CODE
        if inputs[0].size != self.w * self.h * 3 // 2 or \
                (self.feedback and inputs[1].size != self.w * self.h):
            return ERROR_CODE
        action = self.script.pop(0) if self.script else None
        if isinstance(action, int):
            return action
        if action == "raise":
            raise RuntimeError("device error")
        y = inputs[0][:self.w * self.h].reshape(self.h, self.w)
        bright = (y > 128).astype(np.float32)
        prior = inputs[1].reshape(self.h, self.w) if self.feedback else np.zeros_like(bright)
        if self.feedback:
            self.priors.append(prior.copy())
        alpha = {"bright": bright, "echo": prior.copy(),
                 "max": np.maximum(bright, prior)}[self.kind]
        if action == "nan":
            alpha[3, 3] = np.nan
        elif action == "inf":
            alpha[0, 0] = np.inf
        elif action == "short":
            alpha = alpha[:-1]
        return [alpha.reshape(-1)]


def write_aipp(folder, w, h):
    """The project's aipp.cfg with the source size set to w x h."""
    with open(os.path.join(ROOT, "aipp.cfg")) as f:
        text = f.read()
    text = re.sub(r"src_image_size_w:\s*\d+", "src_image_size_w: %d" % w, text)
    text = re.sub(r"src_image_size_h:\s*\d+", "src_image_size_h: %d" % h, text)
    with open(os.path.join(folder, "aipp.cfg"), "w") as f:
        f.write(text)


def write_tiny_onnx(path, w, h, kind="bright", feedback=True):
    """A 3-node ONNX model: alpha = sigmoid(12 * (mean(RGB) - 0.5)) ('bright'), or the
    prior itself ('echo'), with the input/output names of the real model (opset 11)."""
    import onnx
    from onnx import TensorProto, helper
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w])]
    if feedback:
        inputs.append(helper.make_tensor_value_info("prev_alpha", TensorProto.FLOAT,
                                                    [1, 1, h, w]))
    consts = [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
              helper.make_tensor("gain", TensorProto.FLOAT, [], [12.0]),
              helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])]
    nodes = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
             helper.make_node("Sub", ["m", "half"], ["c"]),
             helper.make_node("Mul", ["c", "gain"], ["g"]),
             helper.make_node("Sigmoid", ["g"], ["bright"])]
    if kind == "echo":
        nodes += [helper.make_node("Mul", ["bright", "zero"], ["z"]),
                  helper.make_node("Add", ["z", "prev_alpha"], ["alpha"])]
    else:
        nodes += [helper.make_node("Identity", ["bright"], ["alpha"])]
    graph = helper.make_graph(
        nodes, "tiny_" + kind, inputs,
        [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, h, w])],
        initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.checker.check_model(model)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    onnx.save(model, path)
    return path


def make_skill_dir(root, w=128, h=72, kind="bright", feedback=True):
    """root/model/matting.onnx (tiny) + root/aipp.cfg; returns the .om path to load."""
    write_tiny_onnx(os.path.join(str(root), "model", "matting.onnx"), w, h, kind, feedback)
    write_aipp(str(root), w, h)
    return os.path.join(str(root), "model", "matting.om")


def write_clip(path, w, h, n, fps=25):
    """A clip with a bright box sliding over a dark background (mp4v)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), path
    for i in range(n):
        x0 = int((w // 3) * (1 + np.sin(i / 5.0)) / 2)
        writer.write(scene(w, h, (x0, h // 4, x0 + w // 3, h), as_bgr=True))
    writer.release()
    return str(path)
