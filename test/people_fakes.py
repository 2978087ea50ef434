"""Deterministic stand-ins for the person detector and segmenter (no tests here).

Both "see" bright regions (Y > 128) of what they are given, as FakeModel does for the selfie
model, so the person stage's geometry (letterbox, views, crops, paste-back, landmarks -> next
ROI) is exercised for real. A 'person' is a bright rectangle in a dark frame (scene()).
- FakeDetector: per bright blob of its 224x224 input, one detection: the box is the blob's
  top (the head), keypoint 0 the blob's centre (hips), keypoint 1 its top centre (the size
  and rotation point; `reach` moves it further up: a body guessed larger than the blob),
  encoded on the anchor nearest the box centre as the network would.
- FakeSegmenter: alpha = 1 on the bright pixels of the crop; presence = 1 when the crop holds
  a bright blob (`presence` overrides: a float, or a list consumed per call); landmarks 0
  (nose) near the blob's top, 33 at its centre and 34 at its top, the face's eleven spread
  over `face_span` crop pixels (6); heatmaps say nothing.
Both take `script`: per call None (normal), an int (error code), 'raise', 'short' (an output
of the wrong size), 'nan' (NaN alpha).
"""
import cv2
import numpy as np

from utils import person_detect as pd

ERROR = 17
ANCHORS = pd.ssd_anchors()


def blobs(y, min_area=20):
    """[(x0, y0, x1, y1)] of the bright regions of a Y plane, largest first."""
    n, _, stats, _ = cv2.connectedComponentsWithStats((y > 128).astype(np.uint8), 4)
    out = [tuple(int(v) for v in (s[0], s[1], s[0] + s[2], s[1] + s[3])) + (int(s[4]),)
           for s in stats[1:] if s[4] >= min_area]
    return [b[:4] for b in sorted(out, key=lambda b: -b[4])]


def scene(w, h, boxes, fg=220, bg=30):
    """NV21 w x h, dark, with a bright rectangle per (x0, y0, x1, y1) box."""
    frame = np.empty((h * 3 // 2, w), np.uint8)
    frame[:h] = bg
    frame[h:] = 128
    for x0, y0, x1, y1 in boxes:
        frame[y0:y1, x0:x1] = fg
    return frame


class _Scripted(object):
    def __init__(self, script=None):
        self.script = list(script or [])
        self.calls = 0
        self.inputs = []

    def _action(self, inputs):
        self.calls += 1
        if not isinstance(inputs, list) or not all(isinstance(x, np.ndarray) for x in inputs):
            raise ValueError("inputs must be a list of arrays")
        action = self.script.pop(0) if self.script else None
        if action == "raise":
            raise RuntimeError("device error")
        return action

    def _picture(self, inputs):
        """(scripted action, the input's Y plane), or (error code, None) for a scripted code
        or an input of the wrong size."""
        action = self._action(inputs)
        if isinstance(action, int):
            return action, None
        s = self.size
        if inputs[0].size != s * s * 3 // 2:
            return ERROR, None
        y = inputs[0][:s * s].reshape(s, s)
        self.inputs.append(y.copy())
        return action, y


class FakeDetector(_Scripted):
    size = 224

    def __init__(self, script=None, score=4.0, reach=1.0):
        _Scripted.__init__(self, script)
        self.logit = score  # the logit of every detection (4.0: score 0.98)
        self.reach = reach  # keypoint 1 this many times the blob's half height above its centre

    def infer(self, inputs):
        action, y = self._picture(inputs)
        if y is None:
            return action
        s = self.size
        boxes = np.zeros((pd.NUM_ANCHORS, 12), np.float32)
        logits = np.full(pd.NUM_ANCHORS, -20.0, np.float32)
        for x0, y0, x1, y1 in blobs(y):
            bh = y1 - y0
            cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
            head = (cx, y0 + 0.15 * bh)
            k = int(np.argmin(((ANCHORS * s - head) ** 2).sum(axis=1)))
            a = ANCHORS[k] * s
            size = 0.35 * bh
            boxes[k, :4] = [head[0] - a[0], head[1] - a[1], size, size]
            boxes[k, 4:6] = [cx - a[0], cy - a[1]]  # keypoint 0: the centre
            boxes[k, 6:8] = [cx - a[0], cy + self.reach * (y0 - cy) - a[1]]  # 1: the top
            logits[k] = self.logit
        out = [boxes.reshape(-1), logits]
        if action == "short":
            out = [boxes.reshape(-1)[:-1], logits]
        return out


class FakeSegmenter(_Scripted):
    size = 256

    def __init__(self, script=None, presence=None, face_span=6.0):
        _Scripted.__init__(self, script)
        self.presence = presence
        self.face_span = float(face_span)

    def infer(self, inputs):
        action, y = self._picture(inputs)
        if y is None:
            return action
        alpha = (y > 128).astype(np.float32)
        found = blobs(y, min_area=64)
        raw = np.zeros((39, 5), np.float32)
        raw[:, 3:] = 10.0  # visible, present
        if found:
            x0, y0, x1, y1 = found[0]
            cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
            raw[:11, :2] = [cx, y0 + 0.08 * (y1 - y0)]
            raw[:11, 0] += np.linspace(-0.5, 0.5, 11) * self.face_span
            raw[33, :2] = [cx, cy]
            raw[34, :2] = [cx, y0]
        presence = 1.0 if found else 0.0
        if isinstance(self.presence, list):
            presence = self.presence.pop(0) if self.presence else presence
        elif self.presence is not None:
            presence = self.presence
        if action == "nan":
            alpha[5, 5] = np.nan
        heat = np.full(2 * 64 * 64, -100.0, np.float32)
        out = [alpha.reshape(-1), raw.reshape(-1), np.array([presence], np.float32), heat]
        if action == "short":
            out = out[:3]
        return out
