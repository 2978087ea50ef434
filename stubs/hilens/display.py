"""hilens.Display (构造一个用于输出的显示器.md, 输出一帧图片.md): shown NV21 frames go to an MP4.

* ``Display(hilens.HDMI)``: writes HILENS_HDMI_OUTPUT (default ``hdmi_output.mp4`` in the current
  directory). One HDMI display at a time, as on the device; frames must be >= 128x128.
* ``Display(hilens.H264_FILE, path)``: writes ``path``. The device writes a raw H.264 stream; the
  simulator writes an MP4 container (OpenCV's FFmpeg here has no H.264 encoder). OpenCV picks the
  container from the file name, so for a name it cannot mux as MP4 (e.g. ``.h264``) the frames go
  to ``path + ".part.mp4"``, renamed to ``path`` on close; both names are logged at construction.
* ``Display(hilens.RTMP, "rtmp://...")``: nothing is streamed; frames go to HILENS_RTMP_OUTPUT
  (default ``rtmp_output.mp4``).

Failures are visible. Construction raises CreateError (with an ERROR line naming the file and the
reason) for a path that is a folder, is in a missing folder or cannot be created or written.
``show(frame)`` returns 0, or a non-zero error code with an ERROR log line: for a frame that is
not NV21 uint8 (H*3/2, W) with even sizes, is below 128x128 on HDMI or differs in size from the
first frame shown (which fixes the video size), and WRITE_ERROR when the disk has no room for the
frame plus the file's index (the frame is refused before the disk is full, so the file stays
playable). It never raises and never drops a valid frame silently. ``close()`` (a simulator
extra; ``hilens.terminate()``, garbage collection and interpreter exit call it) finalises the file,
checks that it holds every accepted frame and returns 0, or WRITE_ERROR / RENAME_FAILED with an
ERROR line when the recording is incomplete, missing or under another name;
``hilens.terminate()`` returns non-zero when any display failed that way.

The frame rate stored in the file is HILENS_DISPLAY_FPS when set, else the frame rate of the
newest open VideoCapture (the source being shown), else 25; it is fixed at the first frame.
"""
from __future__ import annotations

import os
import time
from typing import Optional, Tuple

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
# Room kept free for what is still to come when a frame is accepted: the writer's unflushed
# buffer (OpenCV's FFmpeg writes the file in 256 KiB steps, measured on a 1 MiB tmpfs) and the MP4
# index close() writes (about 12 bytes a frame), with a margin.
INDEX_RESERVE_BYTES = 512 * 1024
INDEX_BYTES_PER_FRAME = 16
_REPEAT_LOG_S = 5.0  # a failure that repeats every frame is logged again at most this often


def _fail(msg: str) -> CreateError:
    sfw(ERROR, msg)
    return CreateError(msg)


def _free_bytes(folder: str) -> Optional[int]:
    """Bytes an unprivileged writer may still use on the disk of ``folder``; None if unknown."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def _probe_writable(path: str) -> Optional[str]:
    """'' when ``path`` can be written (created and removed again if new), else why not."""
    if os.path.isdir(path):
        return "it is a folder; expected the path of a video file"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return "its folder %s does not exist" % folder
    try:
        if os.path.exists(path):
            with open(path, "ab"):  # opening for append changes nothing
                pass
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.close(fd)
            os.remove(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def _rate_override() -> Optional[float]:
    """HILENS_DISPLAY_FPS as a frame rate, None when unset; ValueError when it is not one."""
    if env.get(env.DISPLAY_FPS) is None:
        return None
    fps = env.get_float(env.DISPLAY_FPS, env.DEFAULT_DISPLAY_FPS)
    if not 0.0 < fps <= 1000.0:
        raise ValueError("%s=%r must be a frame rate in (0, 1000]" % (env.DISPLAY_FPS, env.get(env.DISPLAY_FPS)))
    return fps


def _source_rate() -> Tuple[float, str]:
    """(fps, where it came from): the newest open VideoCapture's frame rate, else 25."""
    from .video import VideoCapture  # here: video.py does not need display.py

    sources = [o for o in lifecycle.open_objects() if isinstance(o, VideoCapture) and o.fps > 0]
    if sources:
        newest = max(sources, key=lambda c: c.opened_seq)
        return newest.fps, "the frame rate of %s %r" % (newest.kind, newest.source)
    return env.DEFAULT_DISPLAY_FPS, "no open VideoCapture reports a frame rate"


class Display:
    """An output that encodes every shown NV21 frame into a video file."""

    def __init__(self, type: int, path: Optional[str] = None):  # noqa: A002 - the device's name
        lifecycle.warn_if_uninitialised("hilens.Display")
        self._writer: Optional[cv2.VideoWriter] = None
        self._closed = False
        self._status: Optional[int] = None  # close()'s result, once known
        self.frame_size: Optional[tuple] = None  # (W, H) fixed by the first frame
        self.frames_written = 0  # simulator extras
        self.frames_rejected = 0  # refused: not a valid frame for this display
        self.frames_failed = 0  # valid frames that could not be written (no room)
        self.frames_in_file: Optional[int] = None  # counted in the finished file by close()
        self.fps: Optional[float] = None
        self._last_reject = ""
        self._last_log: dict = {}
        if isinstance(type, bool) or type not in _TYPE_NAMES:
            raise _fail("Display: type=%r must be hilens.HDMI, hilens.RTMP or hilens.H264_FILE" % (type,))
        self.type = int(type)
        self.name = "Display(%s)" % _TYPE_NAMES[self.type]
        if self.type == HDMI:
            for other in lifecycle.open_objects():
                if isinstance(other, Display) and other.type == HDMI and not other._closed:
                    raise _fail("Display(HDMI): the HDMI output is already in use by another Display "
                                "(one HDMI output only; close the other first)")
            out = env.get(env.HDMI_OUTPUT) or env.DEFAULT_HDMI_OUTPUT
            what = "%s=%s" % (env.HDMI_OUTPUT, out)
            folder = os.path.dirname(os.path.abspath(out))
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise _fail("Display(HDMI): cannot create the folder of %s: %s" % (what, exc.strerror or exc))
        elif self.type == RTMP:
            if not isinstance(path, str) or not path.startswith("rtmp://"):
                raise _fail("Display(RTMP): path must be an rtmp:// URL, got %r" % (path,))
            out = env.get(env.RTMP_OUTPUT) or env.DEFAULT_RTMP_OUTPUT
            what = "%s=%s (the stand-in for %s)" % (env.RTMP_OUTPUT, out, path)
        else:
            if not isinstance(path, str) or not path:
                raise _fail("Display(H264_FILE): path must be the output file, got %r" % (path,))
            out = path
            what = out
        self.path = os.path.abspath(out)
        muxable = os.path.splitext(self.path)[1].lower() in _MUXABLE
        self._write_path = self.path if muxable else self.path + ".part.mp4"
        for target in (self.path, self._write_path) if not muxable else (self.path,):
            problem = _probe_writable(target)
            if problem:
                raise _fail("%s: cannot write %s: %s" % (self.name, what if target == self.path else target,
                                                         problem))
        self.fourcc = env.get(env.DISPLAY_FOURCC) or env.DEFAULT_DISPLAY_FOURCC
        if len(self.fourcc) != 4:
            raise _fail("Display: %s=%r must be a 4-character codec code" % (env.DISPLAY_FOURCC, self.fourcc))
        try:
            self._fps_override = _rate_override()
        except ValueError as exc:
            raise _fail("Display: %s" % exc) from None
        lifecycle.register(self)
        lifecycle.finalise_on_signals()
        if muxable:
            sfw(INFO, "%s writes %s" % (self.name, self.path))
        else:
            sfw(INFO, "%s writes an MP4 to %s while recording and renames it to %s on close (OpenCV picks the "
                      "container from the name and cannot mux %s)" % (
                          self.name, self._write_path, self.path, os.path.splitext(self.path)[1] or "a name "
                          "without an extension"))

    # ------------------------------------------------------------------------------ show

    def _log_repeating(self, key: str, msg: str) -> None:
        """An ERROR line the first time, then at most every few seconds with a count."""
        now = time.monotonic()
        last, count = self._last_log.get(key, (None, 0))
        if last is None or now - last >= _REPEAT_LOG_S:
            sfw(ERROR, msg + (" (%d more since the last such line)" % count if count else ""))
            self._last_log[key] = (now, 0)
        else:
            self._last_log[key] = (last, count + 1)

    def _reject(self, code: ErrorCode, msg: str) -> int:
        self.frames_rejected += 1
        self._last_reject = msg
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
                                % (w, h, HDMI_MIN_SIZE))
        if self.frame_size is not None and (w, h) != self.frame_size:
            return self._reject(ErrorCode.INVALID_SRC_SIZE, "frame is %dx%d but the first frame fixed the video "
                                "size to %dx%d" % ((w, h) + tuple(self.frame_size)))
        folder = os.path.dirname(self._write_path)
        free = _free_bytes(folder)
        needed = w * h * 3 // 2 + INDEX_RESERVE_BYTES + INDEX_BYTES_PER_FRAME * (self.frames_written + 1)
        if free is not None and free < needed:
            self.frames_failed += 1
            self._log_repeating("space", "Display.show: %s: only %d KiB free in %s, a %dx%d frame needs up to %d "
                                "KiB with the file's index; frame not written (WRITE_ERROR)"
                                % (self._write_path, free // 1024, folder, w, h, needed // 1024))
            return int(ErrorCode.WRITE_ERROR)
        writer = self._writer
        if writer is None:
            if self._fps_override is not None:
                self.fps, origin = self._fps_override, env.DISPLAY_FPS
            else:
                self.fps, origin = _source_rate()
            writer = cv2.VideoWriter(self._write_path, cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not writer.isOpened():
                return self._reject(ErrorCode.OPENFILE_FAILED, "cannot open a %s writer for %s"
                                    % (self.fourcc, self._write_path))
            if self._closed:  # closed by a signal handler meanwhile
                writer.release()
                return self._reject(ErrorCode.UNKNOWN_ERROR, "the display is closed")
            self._writer, self.frame_size = writer, (w, h)
            sfw(INFO, "%s: %dx%d at %g fps (%s) into %s" % (self.name, w, h, self.fps, origin, self._write_path))
        # A signal handler may close the display between these lines; releasing first makes
        # this write a no-op, never a crash.
        writer.write(nv21.nv21_to_bgr(frame))
        self.frames_written += 1
        return 0

    # ------------------------------------------------------------------------------ close

    def close(self) -> int:
        """Finalise the file (simulator extra; hilens.terminate() calls it). 0 when the file holds
        every frame show() accepted; WRITE_ERROR or RENAME_FAILED, with an ERROR line, when it is
        incomplete, missing or left under the .part.mp4 name. Idempotent: later calls return the
        same code. Each step can be repeated, so a signal handler that calls it (or terminate())
        while it runs finishes the job."""
        if self._status is not None:
            return self._status
        self._closed = True
        lifecycle.unregister(self)
        writer = self._writer
        if writer is not None:
            writer.release()  # writes the MP4 index; releasing twice is harmless
            self._writer = None
        status = self._finish()
        self._status = status
        return status

    def _finish(self) -> int:
        shown = self.frames_written + self.frames_failed + self.frames_rejected
        if self.frame_size is None:
            if not shown:
                return 0  # never used: nothing to write, nothing lost
            sfw(ERROR, "%s: no frame written to %s: %d frame(s) refused (last: %s)" % (
                self.name, self.path, self.frames_rejected + self.frames_failed,
                self._last_reject or "no room on the disk"))
            return int(ErrorCode.WRITE_ERROR)
        where = self.path
        if self._write_path != self.path and os.path.exists(self._write_path):
            try:
                os.replace(self._write_path, self.path)
            except OSError as exc:
                where = self._write_path
                sfw(ERROR, "%s: cannot rename %s to %s: %s; the recording stays in %s" % (
                    self.name, self._write_path, self.path, exc.strerror or exc, self._write_path))
                self.frames_in_file = _frames_in(where)
                return int(ErrorCode.RENAME_FAILED)
        self.frames_in_file = _frames_in(where)
        if self.frames_in_file < self.frames_written:
            sfw(ERROR, "%s: %s is incomplete: %d of %d frame(s) readable (a write failed: disk full, file size "
                       "limit or I/O error)" % (self.name, where, self.frames_in_file, self.frames_written))
            return int(ErrorCode.WRITE_ERROR)
        if self.frames_failed:
            sfw(ERROR, "%s: %s holds %d frame(s); %d of %d frame(s) shown were not written (no room on the disk)"
                % (self.name, where, self.frames_in_file, self.frames_failed, shown))
            return int(ErrorCode.WRITE_ERROR)
        sfw(INFO, "%s: %d frame(s) written to %s at %g fps%s" % (
            self.name, self.frames_written, where, self.fps or 0,
            "; %d frame(s) refused" % self.frames_rejected if self.frames_rejected else ""))
        return 0

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _frames_in(path: str) -> int:
    """Frames a player finds in the finished file (0 when it cannot be opened)."""
    if not os.path.isfile(path):
        return 0
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            return 0
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        return int(count) if count > 0 else 0
    finally:
        cap.release()
