"""hilens.Display (构造一个用于输出的显示器.md, 输出一帧图片.md): shown NV21 frames go to an MP4.

* ``Display(hilens.HDMI)``: writes HILENS_HDMI_OUTPUT (default ``hdmi_output.mp4`` in the current
  directory). One HDMI display at a time, as on the device; frames must be >= 128x128.
* ``Display(hilens.H264_FILE, path)``: writes ``path``. The device writes a raw H.264 stream; the
  simulator writes an MP4 container (OpenCV's FFmpeg here has no H.264 encoder). When ``path`` has
  no extension OpenCV can mux (.mp4/.avi/.mkv/.mov), frames go to ``path + ".part.mp4"``, which is
  renamed to ``path`` on close.
* ``Display(hilens.RTMP, "rtmp://...")``: nothing is streamed; frames go to HILENS_RTMP_OUTPUT
  (default ``rtmp_output.mp4``).

``show(frame)`` returns 0, or a non-zero error code with an ERROR log line for a frame that is
not NV21 uint8 (H*3/2, W) with even sizes, is below 128x128 on HDMI, or differs in size from the
first frame shown (which fixes the video size). It never raises and never drops a valid frame.
The file is complete after ``close()``, ``hilens.terminate()``, garbage collection or exit.
"""
from __future__ import annotations

import os
from typing import Optional

import cv2
import numpy as np

from . import env, lifecycle, nv21
from .errors import CreateError, ErrorCode
from .log import ERROR, INFO, sfw

HDMI = 0
RTMP = 1
H264_FILE = 2
_TYPE_NAMES = {HDMI: "HDMI", RTMP: "RTMP", H264_FILE: "H264_FILE"}
HDMI_MIN_SIZE = 128
_MUXABLE = (".mp4", ".avi", ".mkv", ".mov")


def _fail(msg: str) -> CreateError:
    sfw(ERROR, msg)
    return CreateError(msg)


class Display:
    """An output that encodes every shown NV21 frame into a video file."""

    def __init__(self, type: int, path: Optional[str] = None):  # noqa: A002 - the device's name
        lifecycle.warn_if_uninitialised("hilens.Display")
        self._writer: Optional[cv2.VideoWriter] = None
        self._closed = False
        self.frame_size: Optional[tuple] = None  # (W, H) fixed by the first frame
        self.frames_written = 0  # simulator extras
        self.frames_rejected = 0
        if isinstance(type, bool) or type not in _TYPE_NAMES:
            raise _fail("Display: type=%r must be hilens.HDMI, hilens.RTMP or hilens.H264_FILE" % (type,))
        self.type = int(type)
        if self.type == HDMI:
            for other in lifecycle.open_objects():
                if isinstance(other, Display) and other.type == HDMI and not other._closed:
                    raise _fail("Display(HDMI): the HDMI output is already in use by another Display "
                                "(one HDMI output only; close the other first)")
            out = env.get(env.HDMI_OUTPUT) or env.DEFAULT_HDMI_OUTPUT
            folder = os.path.dirname(os.path.abspath(out))
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise _fail("Display(HDMI): cannot create the folder of %s=%s: %s" % (env.HDMI_OUTPUT, out, exc))
        elif self.type == RTMP:
            if not isinstance(path, str) or not path.startswith("rtmp://"):
                raise _fail("Display(RTMP): path must be an rtmp:// URL, got %r" % (path,))
            out = env.get(env.RTMP_OUTPUT) or env.DEFAULT_RTMP_OUTPUT
        else:
            if not isinstance(path, str) or not path:
                raise _fail("Display(H264_FILE): path must be the output file, got %r" % (path,))
            if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise _fail("Display(H264_FILE): the folder of %s does not exist" % path)
            out = path
        self.path = os.path.abspath(out)
        muxable = os.path.splitext(self.path)[1].lower() in _MUXABLE
        self._write_path = self.path if muxable else self.path + ".part.mp4"
        self.fps = env.get_float(env.DISPLAY_FPS, env.DEFAULT_DISPLAY_FPS)
        self.fourcc = env.get(env.DISPLAY_FOURCC) or env.DEFAULT_DISPLAY_FOURCC
        if len(self.fourcc) != 4:
            raise _fail("Display: %s=%r must be a 4-character codec code" % (env.DISPLAY_FOURCC, self.fourcc))
        lifecycle.register(self)
        sfw(INFO, "Display(%s) writes %s" % (_TYPE_NAMES[self.type], self.path))

    def _reject(self, code: ErrorCode, msg: str) -> int:
        self.frames_rejected += 1
        sfw(ERROR, "Display.show: %s; frame not shown" % msg)
        return int(code)

    def show(self, frame: np.ndarray) -> int:
        """Show one NV21 frame; 0 on success, else an error code (see the module doc)."""
        if self._closed:
            return self._reject(ErrorCode.UNKNOWN_ERROR, "the display is closed")
        try:
            w, h = nv21.frame_size(frame, "frame")
        except ValueError as exc:
            bad_layout = isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 2
            return self._reject(ErrorCode.INVALID_SRC_SIZE if bad_layout else ErrorCode.INVALID_PARAM, str(exc))
        if self.type == HDMI and (w < HDMI_MIN_SIZE or h < HDMI_MIN_SIZE):
            return self._reject(ErrorCode.INVALID_SRC_SIZE, "frame is %dx%d; HDMI needs width and height >= %d"
                                % (w, h, HDMI_MIN_SIZE, ))
        if self.frame_size is None:
            writer = cv2.VideoWriter(self._write_path, cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not writer.isOpened():
                return self._reject(ErrorCode.OPENFILE_FAILED, "cannot open a %s writer for %s"
                                    % (self.fourcc, self._write_path))
            self._writer, self.frame_size = writer, (w, h)
        elif (w, h) != self.frame_size:
            return self._reject(ErrorCode.INVALID_SRC_SIZE, "frame is %dx%d but the first frame fixed the video "
                                "size to %dx%d" % ((w, h) + tuple(self.frame_size)))
        assert self._writer is not None
        self._writer.write(nv21.nv21_to_bgr(frame))
        self.frames_written += 1
        return 0

    def close(self) -> None:
        """Flush and close the file (simulator extra; hilens.terminate() calls it). Idempotent."""
        if self._closed:
            return
        self._closed = True
        lifecycle.unregister(self)
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            if self._write_path != self.path:
                os.replace(self._write_path, self.path)
            sfw(INFO, "Display(%s): %d frame(s) written to %s" % (_TYPE_NAMES[self.type], self.frames_written,
                                                                  self.path))

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
