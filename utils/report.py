"""What the run reports: timings and outcomes per frame (Stats) and a progress line (Progress).

Stats adds up the per-stage milliseconds of every frame (read, the pipeline's stages, show,
total; a stage it has not seen before gets a column of its own, before `total`) and what
happened to it:
shown untouched because inference failed, why the temporal state was reset, skipped.
The summary at the end and the periodic "stats:" log lines are made from it.
"""
import sys
import time
from typing import Dict, List, Mapping, Sequence

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
        self.start = clock()
        self.window_start = self.start

    def add(self, ms: Mapping[str, float], ok: bool = True, resets: Sequence[str] = ()) -> None:
        """One processed frame: its ms per stage, whether inference worked, its resets."""
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
