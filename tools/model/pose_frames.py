"""The frames the person-pipeline reference fixtures were recorded on, rebuilt from their
sources (test/fixtures/pose/ stores only MediaPipe's outputs, never these pictures).

Sources, read in place: ../shared/data (DAVIS 2016 clips, Clothing Co-Parsing full bodies, the
Human-Segmentation-Dataset photos, Intel's empty-room clip; see its README for licences) and
matplotlib's `grace_hopper.jpg`. No frame is resampled: the recipes only decode, cut, stack and
decimate with integer steps, so every OpenCV and numpy version rebuilds the same pixels; each
fixture keeps the frame's SHA-256 and the tests check it first.

numpy, OpenCV and tools.paths only: the MediaPipe venv imports this too.
"""
import hashlib
from typing import Callable, Dict, List

import cv2
import numpy as np

from tools import paths


def _rgb(path) -> np.ndarray:
    bgr = cv2.imread(str(paths.require(path, "image")))
    if bgr is None:
        raise ValueError("cannot decode %s" % path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def grace_hopper() -> np.ndarray:
    """matplotlib's sample photo as RGB uint8 (600 x 512)."""
    import matplotlib.cbook

    return _rgb(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def _gradient(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([60 + 150 * x / w, 90 + 100 * y / h, 200 - 120 * x / w], axis=-1)
    return rgb.clip(0, 255).astype(np.uint8)


def grace_far() -> np.ndarray:
    """Grace Hopper at a third of her size (every third pixel) off-centre on a 640x360
    gradient: a small person in a landscape frame."""
    small = grace_hopper()[::3, ::3]
    canvas = _gradient(360, 640)
    h, w = small.shape[:2]
    canvas[360 - h:, 420:420 + w] = small
    return canvas


def davis(clip: str, index: int) -> np.ndarray:
    return _rgb(paths.davis() / clip / "images" / ("%05d.jpg" % index))


def ccp(index: int) -> np.ndarray:
    return _rgb(paths.ccp() / "images" / ("%04d.jpg" % index))


def ccp_pair(left: int, right: int) -> np.ndarray:
    """Two full-body photos side by side (cut to the shorter one's height): two people."""
    a, b = ccp(left), ccp(right)
    h = min(len(a), len(b))
    return np.ascontiguousarray(np.concatenate([a[:h], b[:h]], axis=1))


def hsd(index: int) -> np.ndarray:
    return _rgb(paths.hsd() / "images" / ("%03d.jpg" % index))


def video_frame(name: str, index: int) -> np.ndarray:
    path = paths.require(paths.video(name), "video")
    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(index + 1):
            ok, bgr = cap.read()
            if not ok:
                raise ValueError("%s has no frame %d" % (path, index))
    finally:
        cap.release()
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# name -> recipe; RAW lists the frames whose raw network outputs are recorded as well
FRAMES: Dict[str, Callable[[], np.ndarray]] = {
    "grace": grace_hopper,
    "grace_far": grace_far,
    "davis_breakdance_10": lambda: davis("breakdance-flare", 10),
    "davis_breakdance_50": lambda: davis("breakdance-flare", 50),
    "davis_rollerblade_20": lambda: davis("rollerblade", 20),
    "davis_rollerblade_30": lambda: davis("rollerblade", 30),
    "davis_swing_15": lambda: davis("swing", 15),
    "davis_swing_45": lambda: davis("swing", 45),
    "ccp_0001": lambda: ccp(1),
    "ccp_0312": lambda: ccp(312),
    "ccp_0624": lambda: ccp(624),
    "ccp_pair_0002_0003": lambda: ccp_pair(2, 3),
    "hsd_012": lambda: hsd(12),
    "hsd_149": lambda: hsd(149),
    "empty_room": lambda: video_frame("one-by-one-person-detection.mp4", 0),
}
RAW: List[str] = ["grace", "davis_breakdance_10", "davis_swing_45", "ccp_0312", "hsd_012"]


def frame(name: str) -> np.ndarray:
    if name not in FRAMES:
        raise KeyError("unknown fixture frame %r (known: %s)" % (name, ", ".join(FRAMES)))
    return np.ascontiguousarray(FRAMES[name]())


def sha256(image: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(image).tobytes())
    h.update(repr(image.shape).encode())
    return h.hexdigest()
