"""Backgrounds as NV21 frames of the live frame's size, and what a `background` value means.

Kinds (the `background` key): an image (scaled to cover the frame, converted to NV21 once
per frame size and cached), a colour, `green` (green screen), `blur` (the live frame
blurred at model size, then scaled up: a strong blur for the cost of two small filters),
a looping video file (one of a single frame is read once and kept as a still image), and
`alpha` (no background: the pipeline outputs the matte itself).
A background that cannot be loaded logs one line and becomes a plain grey, so a bad file
never stops the skill. File names arrive resolved (utils.config.load_config).
"""
import os
from typing import Optional, Tuple

import cv2
import numpy as np

from utils import files, log, nv21

BACKGROUND_MODES = ("blur", "green", "alpha")
FALLBACK_BGR = (90, 90, 90)
GREEN_BGR = (0, 255, 0)


def parse_color(text: str) -> Tuple[int, int, int]:
    """'#RRGGBB', 'color:#RRGGBB' or 'R,G,B' -> (B, G, R) ints; ValueError otherwise."""
    s = str(text).strip().lower()
    if s.startswith("color:"):
        s = s[len("color:"):].strip()
    if s.startswith("#") and len(s) == 7:
        try:
            r, g, b = int(s[1:3], 16), int(s[3:5], 16), int(s[5:7], 16)
        except ValueError:
            raise ValueError("expected a colour '#RRGGBB' or 'R,G,B'")
        return (b, g, r)
    parts = s.split(",")
    if len(parts) == 3:
        try:
            r, g, b = [int(p) for p in parts]
        except ValueError:
            raise ValueError("expected a colour '#RRGGBB' or 'R,G,B'")
        if all(0 <= c <= 255 for c in (r, g, b)):
            return (b, g, r)
    raise ValueError("expected a colour '#RRGGBB' or 'R,G,B'")


def background_kind(value: str) -> str:
    """Classify a `background` value: 'blur' | 'green' | 'alpha' | 'color' | 'image' | 'video'."""
    s = str(value).strip()
    if s.lower() in BACKGROUND_MODES:
        return s.lower()
    try:
        parse_color(s)
        return "color"
    except ValueError:
        pass
    if files.is_image(s):
        return "image"
    if files.is_video(s):
        return "video"
    raise ValueError("expected blur, green, alpha, a colour '#RRGGBB' or an image/video file "
                     "(%s)" % ", ".join(files.IMAGE_EXTS + files.VIDEO_EXTS))


def cover(bgr: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale (keeping aspect) so the image covers w x h, then crop the centre."""
    ih, iw = bgr.shape[:2]
    scale = max(float(w) / iw, float(h) / ih)
    nw = max(w, int(round(iw * scale)))
    nh = max(h, int(round(ih * scale)))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    scaled = cv2.resize(bgr, (nw, nh), interpolation=interp)
    x0 = (nw - w) // 2
    y0 = (nh - h) // 2
    return scaled[y0:y0 + h, x0:x0 + w]


class Background(object):
    """frame(w, h, small) -> the NV21 background for one frame; `spec` is a `background`
    value with any file name already resolved."""

    def __init__(self, spec: str, blur_size: int = 9):
        self.spec = spec
        self.blur_size = int(blur_size) | 1
        self.image = None
        self.video = None
        self.video_path = None
        self.video_frames = 0  # frames read since the video was (re)started
        self.color = None
        self.cache = {}  # (w, h) -> NV21 for the still kinds
        self.buf = None  # NV21 for the per-frame kinds (blur, video)
        try:
            self.kind = background_kind(spec)
        except ValueError as e:
            log.error("background: %r is not usable: %s; using grey" % (spec, e))
            self._fallback()
            return
        if self.kind == "color":
            self.color = parse_color(spec)
        elif self.kind == "green":
            self.color = GREEN_BGR
        elif self.kind == "image":
            img = cv2.imread(spec, cv2.IMREAD_COLOR) if os.path.isfile(spec) else None
            if img is None or img.size == 0:
                log.error("background: cannot read image %s (missing or not an image); "
                          "using grey" % spec)
                self._fallback()
            else:
                self.image = img
        elif self.kind == "video":
            self.video_path = spec
            self.video = cv2.VideoCapture(self.video_path)
            if not self.video.isOpened():
                log.error("background: cannot open video %s; using grey" % self.video_path)
                self._fallback()

    def _fallback(self):
        self.kind = "color"
        self.color = FALLBACK_BGR
        self.image = None
        if self.video is not None:
            self.video.release()
        self.video = None

    @property
    def is_matte(self) -> bool:
        return self.kind == "alpha"

    @property
    def is_still(self) -> bool:
        """frame() gives the same picture, in the same array, for a size (an image or a
        colour; not a video or the blurred camera frame)."""
        return self.kind in ("image", "color", "green")

    def _still(self, w, h):
        key = (w, h)
        bg = self.cache.get(key)
        if bg is None:
            if self.image is not None:
                bg = nv21.bgr_to_nv21(np.ascontiguousarray(cover(self.image, w, h)))
            else:
                bg = nv21.solid(w, h, self.color)
            if len(self.cache) >= 2:  # a size change mid-stream: keep old + new only
                self.cache.clear()
            self.cache[key] = bg
        return bg

    def _frame_buffer(self, w, h):
        if self.buf is None or self.buf.shape != (h * 3 // 2, w):
            self.buf = nv21.empty(w, h)
        return self.buf

    def _blur(self, small, w, h):
        small_y, _ = nv21.planes(small, "model-size frame")
        out = self._frame_buffer(w, h)
        out_y, _ = nv21.planes(out)
        k = self.blur_size
        y = cv2.blur(small_y, (k, k))
        cv2.resize(y, (w, h), dst=out_y, interpolation=cv2.INTER_LINEAR)
        kc = (k // 2) | 1
        vu = cv2.blur(nv21.vu_pairs(small), (kc, kc))
        cv2.resize(vu, (w // 2, h // 2), dst=nv21.vu_pairs(out), interpolation=cv2.INTER_LINEAR)
        return out

    def _video_frame(self, w, h):
        ok, img = self.video.read()
        if (not ok or img is None) and self.video_frames == 1:
            # A one-frame "video" is a picture: keep it instead of reopening it every frame.
            log.info("background: video %s has one frame; used as a still picture"
                     % self.video_path)
            self.video.release()
            self.video = None
            self.kind = "image"
            return self._still(w, h)
        if not ok or img is None:
            self.video_frames = 0
            # Loop: rewind; some backends cannot seek, so reopen when rewinding fails.
            self.video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, img = self.video.read()
            if not ok or img is None:
                self.video.release()
                self.video = cv2.VideoCapture(self.video_path)
                ok, img = self.video.read()
        if not ok or img is None:
            log.error("background: video %s gives no frames; using grey" % self.video_path)
            self._fallback()
            return self._still(w, h)
        self.video_frames += 1
        if self.video_frames == 1:
            self.image = img  # the picture, should the video turn out to have no other
        out = self._frame_buffer(w, h)
        return nv21.bgr_to_nv21(np.ascontiguousarray(cover(img, w, h)), out=out)

    def frame(self, w: int, h: int, small: Optional[np.ndarray] = None) -> np.ndarray:
        """The background for a w x h frame; `small` is the model-size NV21 (for blur)."""
        if self.kind == "blur":
            return self._blur(small, w, h)
        if self.kind == "video":
            return self._video_frame(w, h)
        if self.kind == "alpha":
            raise ValueError("background 'alpha' has no picture: output the matte instead")
        return self._still(w, h)

    def close(self):
        if self.video is not None:
            self.video.release()
            self.video = None
