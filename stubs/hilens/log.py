"""Logging: hilens.set_log_level, hilens.trace ... hilens.fatal (日志模块.md).

Lines go to stderr as ``2019-09-30 18:44:24,075 [INFO][SKILL] message``. Messages from the
skill are tagged SKILL; the simulator's own messages are tagged SFW like the framework's lines
in the guide's examples. One message is at most 255 characters (longer ones are cut there).
"""
from __future__ import annotations

import sys
import threading
import time

TRACE = 0
DEBUG = 1
INFO = 2
WARNING = 3
ERROR = 4
FATAL = 5

MAX_MESSAGE_CHARS = 255

_NAMES = {TRACE: "TRACE", DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", FATAL: "FATAL"}
_level = INFO
_lock = threading.RLock()  # re-entrant: a signal handler that logs may interrupt a log call


def set_log_level(level: int) -> None:
    """Print ``level`` and above (default INFO). Anything but a level constant raises ValueError."""
    global _level
    if isinstance(level, bool) or level not in _NAMES:
        raise ValueError("set_log_level: level=%r must be one of hilens.TRACE, DEBUG, INFO, WARNING, "
                         "ERROR, FATAL" % (level,))
    _level = int(level)


def get_log_level() -> int:
    """Current level (simulator helper; the device has no getter)."""
    return _level


def _emit(level: int, msg: str, tag: str) -> None:
    if not isinstance(msg, str):
        # The device binding takes a C++ string: anything else is a TypeError there too.
        raise TypeError("hilens log functions take a str message, got %s" % type(msg).__name__)
    if level < _level:
        return
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + ",%03d" % int(now % 1 * 1000)
    line = "%s [%s][%s] %s\n" % (stamp, _NAMES[level], tag, msg[:MAX_MESSAGE_CHARS])
    with _lock:
        # Looked up per call so that redirected/captured stderr (pytest capsys) sees the lines.
        sys.stderr.write(line)
        sys.stderr.flush()


def trace(msg: str) -> None:
    _emit(TRACE, msg, "SKILL")


def debug(msg: str) -> None:
    _emit(DEBUG, msg, "SKILL")


def info(msg: str) -> None:
    _emit(INFO, msg, "SKILL")


def warning(msg: str) -> None:
    _emit(WARNING, msg, "SKILL")


# The guide has a page for hilens.warn as well (打印Warn级别的日志.md).
warn = warning


def error(msg: str) -> None:
    _emit(ERROR, msg, "SKILL")


def fatal(msg: str) -> None:
    _emit(FATAL, msg, "SKILL")


def sfw(level: int, msg: str) -> None:
    """A line from the simulated framework itself (not part of the device API)."""
    _emit(level, msg, "SFW")
