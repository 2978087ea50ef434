"""hilens.VideoCapture (视频采集器.md, 读取摄像头视频帧.md, 示例-输入.md), read through OpenCV.

Sources:
* ``VideoCapture()``: the built-in camera. Reads HILENS_CAMERA, default ``test/cameras0.mp4``
  relative to the current directory (what HiLens Studio plays); a number there opens that local
  webcam. NV21 frames.
* ``VideoCapture("file.mp4" | "frames_%03d.png" | "rtsp://...", [width, height])``: a video file
  (mp4; avi/gif/... work in the simulator only), an image sequence, or a stream. NV21 frames,
  optionally scaled to width x height (width a multiple of 16, height even, both >= 128).
* ``VideoCapture(0)``: a UVC camera (cv2.VideoCapture(0), or the file named by HILENS_UVC_SOURCE).
  BGR frames of shape (H, W, 3).

After the last frame ``read()`` raises RuntimeError, as HiLens Studio does when its test video
ends (its skill template catches RuntimeError as "last frame"); nothing loops. A source that
cannot be opened, or whose first frame cannot be decoded, raises CreateError at construction.
"""
from __future__ import annotations

import os
from typing import Optional, Union

import cv2
import numpy as np

from . import env, lifecycle, nv21
from .errors import CreateError
from .log import ERROR, INFO, WARNING, sfw

MIN_SIZE = 128
WIDTH_MULTIPLE = 16


def _fail(msg: str) -> CreateError:
    sfw(ERROR, msg)
    return CreateError(msg)


def _check_size(width: object, height: object) -> None:
    for name, value, multiple in (("width", width, WIDTH_MULTIPLE), ("height", height, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise _fail("VideoCapture: %s=%r must be an int" % (name, value))
        if value < MIN_SIZE or value % multiple:
            raise _fail("VideoCapture: %s=%d must be a multiple of %d and >= %d"
                        % (name, value, multiple, MIN_SIZE))


class VideoCapture:
    """A video source returning one uint8 frame per ``read()``."""

    def __init__(self, camera: Union[None, int, str] = None, width: Optional[int] = None,
                 height: Optional[int] = None):
        lifecycle.warn_if_uninitialised("hilens.VideoCapture")
        self._cap: Optional[cv2.VideoCapture] = None
        self._pending: Optional[np.ndarray] = None
        self.frames_read = 0  # simulator extra
        if (width is None) != (height is None):
            raise _fail("VideoCapture: width and height must be given together")
        self._target = None if width is None else (int(width), int(height))  # type: ignore[arg-type]

        self.bgr = False
        source: Union[int, str]
        if camera is None:
            self.kind = "built-in camera"
            source = env.get(env.CAMERA) or env.DEFAULT_CAMERA
            if source.isdigit():  # HILENS_CAMERA=0: a local webcam plays the built-in camera
                source = int(source)
            elif not os.path.exists(source) and "://" not in source:
                raise _fail("VideoCapture(): the built-in camera reads %s, which does not exist (set %s to a "
                            "video file)" % (source, env.CAMERA))
        elif isinstance(camera, bool) or isinstance(camera, (int, np.integer)):
            if isinstance(camera, bool) or camera != 0:
                raise _fail("VideoCapture(%r): only UVC camera 0 exists" % (camera,))
            self.kind, self.bgr = "UVC camera", True
            source = env.get(env.UVC_SOURCE) or 0
        elif isinstance(camera, str) and camera:
            if "://" in camera:
                self.kind, source = "stream", camera
            elif os.path.isfile(camera) or "%" in camera:
                self.kind, source = "file", camera
                ext = os.path.splitext(camera)[1].lower()
                if ext != ".mp4":
                    sfw(WARNING, "VideoCapture(%r): the device reads MP4 files only; this works in the "
                                 "simulator only" % camera)
            elif os.sep in camera or "/" in camera or os.path.splitext(camera)[1]:
                raise _fail("VideoCapture(%r): no such file" % camera)
            else:
                raise _fail("VideoCapture(%r): no IPC camera of that name is configured (the simulator has "
                            "no device camera list; pass a file path or an rtsp:// URL)" % camera)
        else:
            raise _fail("VideoCapture: camera must be None, 0 or a str, got %r" % (camera,))
        if self._target is not None:
            if self.kind in ("built-in camera", "UVC camera"):
                raise _fail("VideoCapture: width/height can only be set for IPC streams and MP4 files, not "
                            "the %s" % self.kind)
            _check_size(width, height)
        self.source = source

        cap = cv2.VideoCapture(source)
        if not cap.isOpened():
            cap.release()
            raise _fail("VideoCapture: cannot open %s %r" % (self.kind, source))
        self._cap = cap
        first = self._grab()
        if first is None:
            self.close()
            raise _fail("VideoCapture: %s %r opened but no frame could be decoded" % (self.kind, source))
        h, w = first.shape[:2]
        if self._target is None and not self.bgr:
            w, h = w - w % 2, h - h % 2  # YUV420 needs even sizes: odd sources lose a row/column
            if (w, h) != first.shape[1::-1]:
                sfw(INFO, "VideoCapture(%r): %dx%d source cropped to %dx%d (NV21 needs even sizes)"
                    % (source, first.shape[1], first.shape[0], w, h))
        self._size = self._target or (w, h)
        self._pending = first
        lifecycle.register(self)

    # ------------------------------------------------------------------------------ API

    @property
    def width(self) -> int:
        return self._size[0]

    @property
    def height(self) -> int:
        return self._size[1]

    def read(self) -> np.ndarray:
        """The next frame: NV21 uint8 (H*3/2, W), or BGR (H, W, 3) for the UVC camera.
        RuntimeError after the last frame or once closed."""
        if self._cap is None:
            raise RuntimeError("VideoCapture.read: %s %r is closed" % (self.kind, self.source))
        frame, self._pending = self._pending, None
        if frame is None:
            frame = self._grab()
        if frame is None:
            sfw(INFO, "VideoCapture: end of %s %r after %d frame(s)" % (self.kind, self.source, self.frames_read))
            raise RuntimeError("VideoCapture.read: no more frames from %s %r after %d frame(s) (end of "
                               "file or undecodable frame)" % (self.kind, self.source, self.frames_read))
        self.frames_read += 1
        return self._convert(frame)

    def close(self) -> None:
        """Release the source (simulator extra; hilens.terminate() calls it)."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        lifecycle.unregister(self)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------------------ internals

    def _grab(self) -> Optional[np.ndarray]:
        assert self._cap is not None
        ok, frame = self._cap.read()
        if not ok or frame is None or frame.size == 0:
            return None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        return frame

    def _convert(self, bgr: np.ndarray) -> np.ndarray:
        w, h = self._size
        if bgr.shape[:2] != (h, w):
            if self._target is None and bgr.shape[0] in (h, h + 1) and bgr.shape[1] in (w, w + 1):
                bgr = bgr[:h, :w]  # odd source: drop the last row/column
            else:  # requested size, or a stream/sequence whose size changed: scale like the VPC
                shrink = bgr.shape[0] * bgr.shape[1] > w * h
                bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if self.bgr:
            return np.ascontiguousarray(bgr)
        return nv21.bgr_to_nv21(np.ascontiguousarray(bgr))
