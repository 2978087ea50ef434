"""Where the results go: the display for an `output` value, what it took, the alpha PNGs, and
the rule that no output overwrites what the run reads.

Nothing is lost silently. A frame counts as shown only when `display.show()` returns 0 (the
device's success code); any other code is counted by value and logged at most every 5 s. An
alpha PNG that cannot be written (a full disk, a read-only or vanished folder) is counted and
logged the same way, and no half-written PNG is left behind. Both end up in the summary, and
main.py ends the run non-zero when either lost a frame. File names arrive resolved
(utils.config.load_config).
"""
import errno
import os
import tempfile
from typing import Dict, List

import cv2
import numpy as np

from utils import log


def is_stream(spec: str) -> bool:
    """Whether an `output` value names a live output (HDMI, RTMP) rather than a file."""
    s = spec.lower()
    return s == "hdmi" or s.startswith("rtmp://")


def open_display(spec: str, hilens):
    """hilens.Display for an `output` value; raises (CreateError, OSError) when it cannot be
    opened, for the caller's one error line."""
    if spec.lower() == "hdmi":
        return hilens.Display(hilens.HDMI)
    if spec.lower().startswith("rtmp://"):
        return hilens.Display(hilens.RTMP, spec)
    folder = os.path.dirname(os.path.abspath(spec))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    return hilens.Display(hilens.H264_FILE, spec)


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def overwrites(cfg) -> List[str]:
    """One line per output that would destroy what the run reads: `output` equal to the input
    or the background file, `alpha_out` equal to the input folder (its pictures would be
    overwritten by 000000.png ...). Checked before anything is opened."""
    problems = []
    reads = []
    if cfg.input and os.path.exists(cfg.input):
        reads.append(("input", cfg.input))
    if os.path.isfile(cfg.background):
        reads.append(("background", cfg.background))
    if cfg.output and not is_stream(cfg.output):
        for what, path in reads:
            if _same_file(cfg.output, path):
                problems.append("output %s is also the %s: refusing to overwrite what the run "
                                "reads; choose another output file" % (cfg.output, what))
    if cfg.alpha_out:
        for what, path in reads:
            if os.path.isdir(path) and _same_file(cfg.alpha_out, path):
                problems.append("alpha_out %s is also the %s folder: refusing to overwrite its "
                                "pictures; choose another folder" % (cfg.alpha_out, what))
    return problems


class Shown(object):
    """display.show() with a count of what it took: `shown` frames (show returned 0) and,
    per error code, the frames it refused (`refused`)."""

    def __init__(self, display, name: str):
        self.display = display
        self.name = name
        self.shown = 0
        self.refused: Dict[object, int] = {}
        self._throttle = log.Throttle(5.0)

    def show(self, frame: np.ndarray) -> bool:
        ret = self.display.show(frame)
        if ret == 0 and not isinstance(ret, bool):
            self.shown += 1
            return True
        self.refused[ret] = self.refused.get(ret, 0) + 1
        h, w = frame.shape[0] * 2 // 3, frame.shape[1]
        self._throttle("error", "output %s: show returned %r for a %dx%d frame; frame not shown "
                       "(%d so far)" % (self.name, ret, w, h, self.not_shown))
        return False

    @property
    def not_shown(self) -> int:
        return sum(self.refused.values())

    def codes(self) -> str:
        return ", ".join("%d x %r" % (n, code) for code, n in sorted(self.refused.items(),
                                                                       key=lambda kv: -kv[1]))

    def summary(self) -> str:
        text = "output %s: %d frame(s) shown" % (self.name, self.shown)
        if self.refused:
            text += ", %d not shown (show returned %s)" % (self.not_shown, self.codes())
        return text


class AlphaWriter(object):
    """8-bit alpha PNGs named by frame index (000000.png ...) into `folder` ('' = off).

    The folder is made and checked for writing when the writer is made (ValueError, one line
    naming the folder and why), so a bad folder stops the run before it starts; a PNG that
    cannot be written later is counted (`failed`), logged at most every 5 s and removed if
    it was half written."""

    def __init__(self, folder: str):
        self.folder = folder
        self.written = 0
        self.failed = 0
        self.last_error = ""
        self._throttle = log.Throttle(5.0)
        if folder:
            self._prepare()

    @property
    def enabled(self) -> bool:
        return bool(self.folder)

    def _prepare(self):
        folder = self.folder
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ValueError("%s is a file, expected a folder for the alpha PNGs" % folder)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder)
        except OSError as e:
            raise ValueError("cannot create the folder %s (%s)" % (folder, e.strerror or e))
        try:  # a real write: permissions alone do not show a read-only mount (or root)
            fd, probe = tempfile.mkstemp(prefix=".alpha-", suffix=".probe", dir=folder)
            os.close(fd)
            os.remove(probe)
        except OSError as e:
            raise ValueError("cannot write into the folder %s (%s)" % (folder, e.strerror or e))

    def write(self, index: int, alpha: np.ndarray) -> bool:
        path = os.path.join(self.folder, "%06d.png" % index)
        ok, png = cv2.imencode(".png", alpha)
        why = "" if ok else "PNG encoding failed"
        if ok:
            try:
                with open(path, "wb") as f:
                    f.write(png.tobytes())
                self.written += 1
                return True
            except OSError as e:
                why = e.strerror or str(e)
                if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                    self._remove(path)  # never leave a truncated PNG behind
        self.failed += 1
        self.last_error = why
        self._throttle("error", "alpha_out: cannot write %s (%s); %d PNG(s) not written so far"
                       % (path, why, self.failed))
        return False

    @staticmethod
    def _remove(path):
        try:
            os.remove(path)
        except OSError:
            pass

    def summary(self) -> str:
        text = "alpha_out %s: %d PNG(s) written" % (self.folder, self.written)
        if self.failed:
            text += ", %d not written (last: %s)" % (self.failed, self.last_error)
        return text
