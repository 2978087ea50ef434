"""What the run reports: timings and outcomes per frame (Stats) and a progress line (Progress).

Stats adds up the per-stage milliseconds of every frame (read, the pipeline's stages, show,
total; a stage it has not seen before gets a column of its own, before `total`), the model
calls and their milliseconds by model, the people segmented, and what happened to it:
shown untouched because inference failed, why the temporal state was reset, skipped,
faults handled (a crop the hardware refused, a person model call that failed).
The summary at the end and the periodic "stats:" log lines are made from it. PresenceWatch
says when nobody was seen for a whole log interval.
"""
import sys
import time
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from utils import log


class Stats(object):
    """Mean ms per stage over the whole run and over the last log interval, and counts."""

    def __init__(self, columns: Sequence[str] = (), clock=time.perf_counter):
        self.clock = clock
        self.names: List[str] = list(columns)
        self.total: Dict[str, float] = dict((n, 0.0) for n in self.names)
        self.window: Dict[str, float] = dict(self.total)
        self.frames = 0  # frames processed (shown or written)
        self.window_frames = 0
        self.failed = 0  # shown untouched because inference failed
        self.skipped = 0  # not shown: not a usable frame, or an unexpected error
        self.resets: Dict[str, int] = {}  # temporal-state resets by reason
        self.calls: Dict[str, int] = {}  # model calls by model ("selfie", "detector", ...)
        self.model_ms: Dict[str, float] = {}  # their wall time by model
        self.people = 0  # people segmented, summed over the frames
        self.events: Dict[str, int] = {}  # faults handled ("crop refused", "... failed")
        self.start = clock()
        self.window_start = self.start

    def add(self, ms: Mapping[str, float], ok: bool = True, resets: Sequence[str] = (),
            calls: Optional[Mapping[str, int]] = None,
            model_ms: Optional[Mapping[str, float]] = None, people: int = 0,
            events: Sequence[str] = ()) -> None:
        """One processed frame: its ms per stage, whether inference worked, its resets, the
        model calls it made and their ms (by model), the people in it, the faults handled."""
        for n, c in (calls or {}).items():
            self.calls[n] = self.calls.get(n, 0) + int(c)
        for n, v in (model_ms or {}).items():
            self.model_ms[n] = self.model_ms.get(n, 0.0) + float(v)
        self.people += int(people)
        for e in events:
            self.events[e] = self.events.get(e, 0) + 1
        for n, v in ms.items():
            if n not in self.total:
                at = self.names.index("total") if "total" in self.names else len(self.names)
                self.names.insert(at, n)
                self.total[n] = 0.0
                self.window[n] = 0.0
            self.total[n] += v
            self.window[n] += v
        self.frames += 1
        self.window_frames += 1
        if not ok:
            self.failed += 1
        for reason in resets:
            self.resets[reason] = self.resets.get(reason, 0) + 1

    def skip(self) -> None:
        self.skipped += 1

    def _line(self, sums, frames, seconds):
        fps = frames / seconds if seconds > 0 else 0.0
        means = ", ".join("%s %.2f" % (n, sums[n] / max(frames, 1)) for n in self.names)
        return "%d frames, %.1f fps; mean ms/frame: %s" % (frames, fps, means)

    def mean_ms(self, name: str = "total") -> float:
        return self.total.get(name, 0.0) / max(self.frames, 1)

    def window_line(self) -> str:
        """The means since the last call (or the start), and a new window."""
        now = self.clock()
        text = self._line(self.window, self.window_frames, now - self.window_start)
        self.window = dict((n, 0.0) for n in self.names)
        self.window_frames = 0
        self.window_start = now
        return text

    def models_line(self) -> str:
        """Model calls per frame and their mean ms per frame, by model (the stages' ms
        include them: `people` holds the detector's and the segmenter's, `infer` the
        selfie model's), the people per frame and the faults handled."""
        n = max(self.frames, 1)
        models = ", ".join("%s %.2f (%.2f ms)" % (m, self.calls[m] / float(n),
                                                  self.model_ms.get(m, 0.0) / n)
                           for m in sorted(self.calls)) or "none"
        faults = ", ".join("%s %d" % kv for kv in sorted(self.events.items())) or "none"
        return ("model calls per frame: %s; %.2f people per frame; faults handled: %s"
                % (models, self.people / float(n), faults))

    def summary_lines(self) -> List[str]:
        resets = ", ".join("%s %d" % kv for kv in sorted(self.resets.items())) or "none"
        return [self._line(self.total, self.frames, self.clock() - self.start),
                "%d frames skipped, %d shown untouched (inference failed); prior resets: %s"
                % (self.skipped, self.failed, resets)]


class Progress(object):
    """Frames and frames/s on stderr (PC only; no tqdm on the device path): one line
    rewritten in place on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, enabled, stream=None, clock=time.perf_counter):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.clock = clock
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = 0.25 if self.tty else 5.0
        self.last = clock()
        self.shown = False
        if enabled and self.tty:
            log.listeners.append(self._clear)

    def _clear(self, level, msg):
        # a log line must not be glued to the end of the progress line
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.shown = False

    def update(self, stats: Stats, force: bool = False) -> None:
        now = self.clock()
        if not self.enabled or (not force and now - self.last < self.every_s):
            return
        self.last = now
        secs = now - stats.start
        fps = stats.frames / secs if secs > 0 else 0.0
        text = "frame %d | %.1f frames/s | %.1f ms/frame" % (stats.frames, fps,
                                                            stats.mean_ms("total"))
        if self.tty:
            self.stream.write("\r" + text + " ")
            self.shown = True
        else:
            self.stream.write("progress: " + text + "\n")
        self.stream.flush()

    def close(self, stats: Stats) -> None:
        """The last count, and the terminal line left as it should be."""
        self.update(stats, force=True)
        if self.enabled and self.tty:
            if self.shown:
                self.stream.write("\n")
                self.stream.flush()
            if self._clear in log.listeners:
                log.listeners.remove(self._clear)


# A matte "holds a person" when at least this share of it is foreground (alpha >= 128): about
# 30 x 30 pixels of a 1280x720 frame, a person far away. It is read from the matte alone, so
# it means the same whichever segmenter made the matte.
PERSON_MIN_AREA = 0.001


def person_found(alpha: np.ndarray, min_area: float = PERSON_MIN_AREA) -> bool:
    """Whether a uint8 matte holds a person (sampled at every 4th row and column)."""
    sample = alpha[::4, ::4]
    return np.count_nonzero(sample >= 128) >= max(1.0, min_area * sample.size)


class PresenceWatch(object):
    """Whether anyone was seen in each log interval: a kiosk whose camera points the wrong
    way, or at a crowd too far away, says so instead of staying silent. `update()` takes
    each frame's matte; `line()` ends the interval and gives "no person found in the last
    60 s (1500 frames)" when no matte of it held a person ('' otherwise, or when no matte
    was made, e.g. while inference failed)."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.start = clock()
        self.frames = 0  # frames with a matte in this interval
        self.with_person = 0

    def update(self, alpha: np.ndarray, ok: bool = True) -> None:
        if ok:
            self.frames += 1
            if self.with_person == 0 and person_found(alpha):
                self.with_person = 1  # one is enough: the rest of the interval is not looked at

    def line(self) -> str:
        now = self.clock()
        seconds = now - self.start
        text = ""
        if self.frames and not self.with_person:
            text = "no person found in the last %s s (%d frames)" % (
                "%.0f" % seconds if seconds >= 10 else "%.1f" % seconds, self.frames)
        self.start, self.frames, self.with_person = now, 0, 0
        return text
