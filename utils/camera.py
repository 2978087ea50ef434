"""Frame source with retry and back-off: never a busy loop, never a silent stall.

A live camera (built-in, UVC, IPC/RTSP) that returns nothing or raises is retried with an
exponentially growing pause (50 ms doubling to 2 s), logged at most every few seconds. One
that raised is reopened at once (a stream past its read timeout answers nothing more until
a new VideoCapture is made), one that returns nothing after repeated failures. The time a
blocking open or read took counts towards `give_up_after`, and a stop request
(`should_stop()`, a signal) ends the wait within 0.1 s of the pause. A file source (MP4, or
on a PC a folder of images) ends cleanly at its end, whether the capture signals that by
raising or by returning an empty array, or restarts when `loop` is set. UVC cameras deliver
BGR: frames are converted to NV21 here (odd sizes lose their last row/column, logged once);
a frame too small to convert (1x1, one row) is handed on as it is, for the pipeline to
reject inside the loop's guard.
"""
import os
import time
from typing import Callable, Optional

import cv2
import numpy as np

from utils import files, log, nv21


class ImageFolderCapture(object):
    """A folder of images (sorted by name) read like a camera; BGR frames, empty at end."""

    def __init__(self, folder):
        names = sorted(n for n in os.listdir(folder) if files.is_image(n))
        if not names:
            raise ValueError("input folder %s has no %s images"
                             % (folder, "/".join(files.IMAGE_EXTS)))
        self.paths = [os.path.join(folder, n) for n in names]
        self.index = 0

    def read(self):
        while self.index < len(self.paths):
            path = self.paths[self.index]
            self.index += 1
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is not None:
                return img
            log.warning("input: %s is not a readable image; skipped" % path)
        return np.empty((0,), np.uint8)


def _usable(frame):
    return isinstance(frame, np.ndarray) and frame.size > 0


def to_nv21(frame: np.ndarray, warn: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """NV21 frames pass through; BGR (UVC) frames become NV21, cropped to even sizes
    (`warn(w, h)` is called when a row/column is dropped). ValueError when nothing usable
    is left (a 1x1 or one-row picture)."""
    if frame.ndim == 3:
        h, w = frame.shape[:2]
        even = frame[:h & ~1, :w & ~1]
        out = nv21.bgr_to_nv21(np.ascontiguousarray(even))
        if (w | h) & 1 and warn is not None:
            warn(w, h)
        return out
    return frame


class FrameReader(object):
    """read() -> NV21 frame (or another array the pipeline will reject), None at the end
    of a file source (or when a live source fails for longer than `give_up_after` s)."""

    def __init__(self, open_capture, name, is_file, loop=False, sleep=time.sleep,
                 clock=time.monotonic, backoff_start=0.05, backoff_max=2.0,
                 reopen_after=8, give_up_after=None, should_stop=None):
        self.open_capture = open_capture
        self.name = name
        self.is_file = is_file
        self.loop = loop
        self.sleep = sleep
        self.clock = clock
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.reopen_after = reopen_after
        self.give_up_after = give_up_after
        self.should_stop = should_stop  # () -> True when the run is to end (a signal)
        self.cap = None
        self.frames = 0  # frames delivered in total
        self.frames_since_open = 0
        self._throttle = log.Throttle(5.0, clock)
        self._warned_odd = False

    def _close(self):
        cap, self.cap = self.cap, None
        for name in ("release", "close"):
            fn = getattr(cap, name, None)
            if fn is not None:
                try:
                    fn()
                except Exception:
                    pass
                break

    def _open(self):
        self._close()
        self.cap = self.open_capture()
        self.frames_since_open = 0

    def _read_once(self):
        """(frame or None, why it failed)."""
        try:
            if self.cap is None:
                self._open()
        except Exception as e:
            return None, "%s: %s" % (type(e).__name__, e)
        try:
            frame = self.cap.read()
        except Exception as e:
            if not self.is_file:
                self._close()  # reopen on the next try: a stream that raised stays dead
            return None, "%s: %s" % (type(e).__name__, e)
        if not _usable(frame):
            return None, "empty frame"
        return frame, None

    def read(self) -> Optional[np.ndarray]:
        failures = 0
        delay = self.backoff_start
        started = self.clock()  # a blocking open or read is part of the time without frames
        while True:
            frame, why = self._read_once()
            if frame is not None:
                if failures:
                    log.info("input: %s recovered after %d failed reads" % (self.name, failures))
                self.frames += 1
                self.frames_since_open += 1
                try:
                    return to_nv21(frame, self._warn_odd)
                except ValueError:
                    return frame  # the pipeline rejects it, naming its size, and it is skipped
            if self.is_file:
                if self.loop and self.frames_since_open > 0:
                    log.info("input: end of %s after %d frames, looping"
                             % (self.name, self.frames_since_open))
                    self._close()
                    continue
                if self.frames == 0:
                    log.error("input: %s gave no frames (%s)" % (self.name, why))
                else:
                    log.info("input: end of %s after %d frames" % (self.name, self.frames))
                self._close()
                return None
            failures += 1
            now = self.clock()
            if self.should_stop is not None and self.should_stop():
                log.info("input: stopped while waiting for %s (%s)" % (self.name, why))
                self._close()
                return None
            if self.give_up_after is not None and now - started >= self.give_up_after:
                log.error("input: %s failed for %.1f s (%s); giving up"
                          % (self.name, now - started, why))
                return None
            self._throttle("warning", "input: %s read failed (%s); retry %d in %.2f s"
                           % (self.name, why, failures, delay))
            if failures % self.reopen_after == 0:
                self._close()  # the next try reopens the camera
            if self._pause(delay):
                log.info("input: stopped while waiting for %s (%s)" % (self.name, why))
                self._close()
                return None
            delay = min(delay * 2.0, self.backoff_max)

    def _pause(self, seconds):
        """Sleep, in slices of 0.1 s while a stop can be requested; True when it was."""
        if self.should_stop is None:
            self.sleep(seconds)
            return False
        end = self.clock() + seconds
        while not self.should_stop():
            left = end - self.clock()
            if left <= 0:
                return False
            self.sleep(min(left, 0.1))
        return True

    def _warn_odd(self, w, h):
        if not self._warned_odd:
            self._warned_odd = True
            log.warning("input: %s gives %dx%d BGR frames; the odd last row/column is dropped "
                        "for NV21" % (self.name, w, h))

    def close(self):
        self._close()


def open_source(spec: str, video_capture, loop: bool = False, **kw) -> FrameReader:
    """A FrameReader for an `input` value (file names resolved by utils.config);
    `video_capture` is hilens.VideoCapture.

    '' built-in camera, '0'.. UVC camera, rtsp://... stream, an existing folder of images,
    an existing file of any type, a name that looks like a file (files.names_a_file); anything
    else is taken as an IPC camera name from the device config. A file that does not exist
    raises ValueError naming it."""
    spec = str(spec).strip()
    if spec == "":
        return FrameReader(lambda: video_capture(), "built-in camera", False, **kw)
    if spec.isdigit():
        index = int(spec)
        return FrameReader(lambda: video_capture(index), "UVC camera %d" % index, False, **kw)
    if "://" in spec:
        return FrameReader(lambda: video_capture(spec), spec, False, **kw)
    if os.path.isdir(spec):
        folder = ImageFolderCapture(spec)  # raises ValueError when it has no images
        first = [folder]

        def open_folder():
            return first.pop() if first else ImageFolderCapture(spec)
        return FrameReader(open_folder, "image folder %s" % spec, True, loop=loop, **kw)
    if os.path.isfile(spec) or files.names_a_file(spec):
        if not os.path.isfile(spec):
            raise ValueError("input video %s not found" % spec)
        full = os.path.abspath(spec)
        return FrameReader(lambda: video_capture(full), "video %s" % spec, True, loop=loop,
                           **kw)
    return FrameReader(lambda: video_capture(spec), "IPC camera %s" % spec, False, **kw)
