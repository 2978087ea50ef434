"""One-line logging to the HiLens log (device and simulator) or stderr, with rate limiting.

HiLens log messages are at most 255 characters, so every message is flattened to one line
and cut there. Repeated failures in the live loop (a camera that keeps failing, a model that
keeps returning an error code) go through `Throttle` so a fault at 25 frames/s does not
flood the log.
"""
import sys
import time

try:
    import hilens as _hilens
except ImportError:  # unit tests of single stages run without the simulator
    _hilens = None

MAX_LEN = 255
LEVELS = ("debug", "info", "warning", "error")

# Tests and the PC CLI can watch what gets logged: each listener gets (level, message).
listeners = []


def _emit(level, msg):
    msg = " ".join(str(msg).split())
    if len(msg) > MAX_LEN:
        msg = msg[:MAX_LEN - 3] + "..."
    for fn in list(listeners):
        fn(level, msg)
    sink = getattr(_hilens, level, None) if _hilens is not None else None
    if sink is not None:
        try:
            sink(msg)
            return
        except Exception:  # logging must never stop the loop
            pass
    sys.stderr.write("[%s] %s\n" % (level.upper(), msg))


def debug(msg):
    _emit("debug", msg)


def info(msg):
    _emit("info", msg)


def warning(msg):
    _emit("warning", msg)


def error(msg):
    _emit("error", msg)


class Throttle(object):
    """Logs the first event at once, then at most one line per `interval_s` with a count."""

    def __init__(self, interval_s=5.0, clock=time.monotonic):
        self.interval_s = interval_s
        self.clock = clock
        self.last = None
        self.suppressed = 0

    def __call__(self, level, msg):
        now = self.clock()
        if self.last is not None and now - self.last < self.interval_s:
            self.suppressed += 1
            return False
        if self.suppressed:
            msg = "%s (%d similar suppressed)" % (msg, self.suppressed)
        self.suppressed = 0
        self.last = now
        _emit(level, msg)
        return True
