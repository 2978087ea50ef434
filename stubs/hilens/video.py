"""hilens.VideoCapture (视频采集器.md, 读取摄像头视频帧.md, 示例-输入.md), read through OpenCV.

Sources:
* ``VideoCapture()``: the built-in camera. Reads HILENS_CAMERA, default ``test/cameras0.mp4``
  relative to the current directory (what HiLens Studio plays); a number there opens that local
  webcam. NV21 frames. A file played as the camera restarts at its end without a gap: a camera
  never ends.
* ``VideoCapture("file.mp4" | "frames_%03d.png" | "rtsp://...", [width, height])``: a video file
  (mp4; avi/gif/... work in the simulator only), an image sequence, or a stream. NV21 frames,
  optionally scaled to width x height (width a multiple of 16, height even, both >= 128).
* ``VideoCapture(0)``: a UVC camera (cv2.VideoCapture(0), or the file named by HILENS_UVC_SOURCE).
  BGR frames of shape (H, W, 3).

A file opened by name ends: after its last frame ``read()`` raises RuntimeError, as HiLens Studio
does when its test video ends (its skill template catches RuntimeError as "last frame"). A frame
that cannot be decoded in the middle of a file is skipped with a WARNING (a hardware decoder drops
a damaged frame and goes on); only the container's last frame is the end. A network source
(``://``) is opened with OpenCV's timeouts: it gives up after HILENS_STREAM_OPEN_TIMEOUT seconds
(default 10) without an answer, and ``read()`` raises RuntimeError after
HILENS_STREAM_READ_TIMEOUT seconds (default 5) without a frame. A source that cannot be opened,
or whose first frame cannot be decoded, raises CreateError at construction.
"""
from __future__ import annotations

import itertools
import os
import time
from typing import Optional, Tuple, Union

import cv2
import numpy as np

from . import env, lifecycle, nv21
from .errors import CreateError
from .log import DEBUG, ERROR, INFO, WARNING, sfw

MIN_SIZE = 128
WIDTH_MULTIPLE = 16
MAX_FPS = 1000.0  # a larger CAP_PROP_FPS is a container's guess, not a frame rate
# Undecodable frames in a row after which a file is taken as ended (10 s of video at 25 fps).
MAX_SKIPPED_RUN = 250
_open_seq = itertools.count(1)  # the order in which captures were opened (Display uses the newest)


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
        self.frames_read = 0  # simulator extras
        self.frames_skipped = 0  # undecodable frames skipped in the middle of a file
        self.loops = 0  # restarts of the built-in camera's file
        self.fps = 0.0  # CAP_PROP_FPS of the source, 0.0 when it reports none
        self.opened_seq = 0
        self._timeouts: Optional[Tuple[float, float]] = None
        self._frame_count = 0  # frames in the file by its container (0: unknown, not a file)
        self._attempts = 0  # reads on the current cv2 capture, decodable or not
        self._decoded = 0
        self._ended = False
        self._stalled = False  # a network source hit its read timeout
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
            elif not os.path.exists(source) and "://" not in source and "%" not in source:
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
        if isinstance(source, str) and "://" in source:
            try:
                self._timeouts = (env.get_seconds(env.STREAM_OPEN_TIMEOUT, env.DEFAULT_STREAM_OPEN_TIMEOUT),
                                  env.get_seconds(env.STREAM_READ_TIMEOUT, env.DEFAULT_STREAM_READ_TIMEOUT))
            except ValueError as exc:
                raise _fail("VideoCapture(%r): %s" % (source, exc)) from None
        # A file played as the camera restarts at its end; a webcam or a stream cannot.
        self.looping = self.kind == "built-in camera" and isinstance(source, str) and self._timeouts is None

        started = time.monotonic()
        cap = self._open()
        if not cap.isOpened():
            cap.release()
            waited = time.monotonic() - started
            if self._timeouts is not None and waited >= 0.9 * self._timeouts[0]:
                raise _fail("VideoCapture: %s %r did not answer within %.1f s (open timeout, %s)"
                            % (self.kind, source, self._timeouts[0], env.STREAM_OPEN_TIMEOUT))
            raise _fail("VideoCapture: cannot open %s %r" % (self.kind, source))
        self._cap = cap
        started = time.monotonic()
        first = self._next_frame()
        if first is None:
            waited = time.monotonic() - started
            self.close()
            if self._timeouts is not None and waited >= 0.9 * self._timeouts[1]:
                raise _fail("VideoCapture: %s %r opened but sent no frame within %.1f s (read timeout, %s)"
                            % (self.kind, source, self._timeouts[1], env.STREAM_READ_TIMEOUT))
            raise _fail("VideoCapture: %s %r opened but no frame could be decoded" % (self.kind, source))
        h, w = first.shape[:2]
        if self._target is None and not self.bgr:
            w, h = w - w % 2, h - h % 2  # YUV420 needs even sizes: odd sources lose a row/column
            if (w, h) != first.shape[1::-1]:
                sfw(INFO, "VideoCapture(%r): %dx%d source cropped to %dx%d (NV21 needs even sizes)"
                    % (source, first.shape[1], first.shape[0], w, h))
        self._size = self._target or (w, h)
        self._pending = first
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if 0.0 < fps <= MAX_FPS else 0.0
        self.opened_seq = next(_open_seq)
        if self.looping:
            sfw(INFO, "VideoCapture(): the built-in camera plays %s (%s frames, %s fps) on repeat, like a camera "
                "that never ends" % (source, self._frame_count or "?", ("%g" % self.fps) if self.fps else "?"))
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
        RuntimeError after the last frame of a file, when a stream stops or once closed."""
        if self._cap is None:
            raise RuntimeError("VideoCapture.read: %s %r is closed" % (self.kind, self.source))
        frame, self._pending = self._pending, None
        started = time.monotonic()
        if frame is None:
            frame = self._next_frame()
        if frame is None and self.looping and self._decoded > 0:
            self._restart()
            frame = self._next_frame()
        if frame is None:
            raise RuntimeError(self._no_frame(time.monotonic() - started))
        self.frames_read += 1
        return self._convert(frame)
    def close(self) -> None:
        """Release the source (simulator extra; hilens.terminate() calls it). Idempotent, and safe
        to call again from a signal handler that interrupts it."""
        cap = self._cap
        if cap is not None:
            cap.release()  # releasing twice is harmless
            self._cap = None
        lifecycle.unregister(self)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------------------ internals

    def _open(self) -> cv2.VideoCapture:
        if self._timeouts is not None:
            open_s, read_s = self._timeouts
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_s * 1000),
                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_s * 1000)])
        else:
            cap = cv2.VideoCapture(self.source)
        self._attempts = self._decoded = 0
        self._frame_count = 0
        if cap.isOpened() and self.kind in ("file", "built-in camera") and self._timeouts is None:
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            self._frame_count = int(count) if 0 < count < 1e9 else 0
        return cap

    def _restart(self) -> None:
        """The built-in camera's file ended: start it again, as if the camera kept running."""
        assert self._cap is not None
        self._cap.release()
        self._cap = self._open()
        self.loops += 1
        sfw(DEBUG, "VideoCapture(): built-in camera %s restarts (loop %d)" % (self.source, self.loops))

    def _next_frame(self) -> Optional[np.ndarray]:
        """The next decodable frame; frames that cannot be decoded before the file's last one (by
        its container's frame count) are skipped with one WARNING per run. None at the end."""
        frame = self._grab()
        if frame is not None or not self._frame_count or self._attempts > self._frame_count:
            return frame
        first_bad, skipped = self._attempts - 1, 1  # each failed read has used up one frame
        while self._attempts < self._frame_count and skipped < MAX_SKIPPED_RUN:
            frame = self._grab()
            if frame is not None:
                break
            skipped += 1
        self.frames_skipped += skipped
        frames = ("frame %d" % first_bad if skipped == 1 else
                  "frames %d..%d" % (first_bad, first_bad + skipped - 1))
        if frame is not None:
            sfw(WARNING, "VideoCapture: %s %r: %s of %d could not be decoded and were skipped"
                % (self.kind, self.source, frames, self._frame_count))
        else:
            left = self._frame_count - self._attempts
            sfw(WARNING, "VideoCapture: %s %r: %s of %d could not be decoded%s" % (
                self.kind, self.source, frames, self._frame_count,
                "; giving up on the %d frame(s) after them" % left if left > 0 else
                " (the end of the file)"))
        return frame

    def _no_frame(self, waited: float) -> str:
        """Why read() has no frame: logged the first time, returned as the RuntimeError's message."""
        if self._timeouts is not None and waited >= 0.9 * self._timeouts[1]:
            self._stalled = True
            msg = ("VideoCapture.read: %s %r sent no frame within %.1f s (read timeout, %s) after %d frame(s)"
                   % (self.kind, self.source, self._timeouts[1], env.STREAM_READ_TIMEOUT, self.frames_read))
            sfw(WARNING, msg)
            return msg
        if self._stalled:  # FFmpeg does not read on after its timeout: every later read fails at once
            return ("VideoCapture.read: %s %r has sent nothing since its read timeout (after %d frame(s)); "
                    "open a new VideoCapture to reconnect" % (self.kind, self.source, self.frames_read))
        if self._timeouts is not None:
            msg = "VideoCapture.read: %s %r ended after %d frame(s)" % (self.kind, self.source, self.frames_read)
        else:
            msg = "VideoCapture.read: no more frames: end of %s %r after %d frame(s)%s" % (
                "file" if self.kind == "file" else self.kind, self.source, self.frames_read,
                " (%d undecodable frame(s) skipped)" % self.frames_skipped if self.frames_skipped else "")
        if not self._ended:
            self._ended = True
            sfw(INFO, msg[len("VideoCapture.read: "):])
        return msg

    def _grab(self) -> Optional[np.ndarray]:
        assert self._cap is not None
        self._attempts += 1
        ok, frame = self._cap.read()
        if not ok or frame is None or frame.size == 0:
            return None
        self._decoded += 1
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
