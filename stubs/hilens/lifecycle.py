"""hilens.init / hilens.terminate, and the registry of open devices that terminate() closes.

Everything here may run inside a signal handler that interrupted the main thread anywhere, even
inside these functions: the lock is re-entrant and closing an object twice is harmless.
"""
from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from typing import Any, List

from . import env
from .errors import ErrorCode
from .log import ERROR, WARNING, sfw

MAX_VERIFY_CHARS = 128

_initialised = False
_warned_uninitialised = False
_open: "weakref.WeakSet[Any]" = weakref.WeakSet()
_lock = threading.RLock()  # re-entrant: a signal handler in the same thread may need it
# Signals whose default action kills the process without running atexit; see finalise_on_signals.
FINALISED_SIGNALS = ("SIGTERM", "SIGHUP")


def init(verify: str) -> int:
    """Initialise the framework. ``verify`` is 0..128 characters; when HILENS_VERIFY is set it
    must equal it (the device compares it with the value typed when the skill was created)."""
    global _initialised
    if not isinstance(verify, str):
        raise TypeError("init: verify must be a str, got %s" % type(verify).__name__)
    if len(verify) > MAX_VERIFY_CHARS:
        sfw(ERROR, "init: verify is %d characters, at most %d allowed" % (len(verify), MAX_VERIFY_CHARS))
        return int(ErrorCode.INVALID_PARAM)
    expected = env.get(env.VERIFY)
    if expected is not None and verify != expected:
        sfw(ERROR, "init: verify %r does not match the skill's check value (%s=%r); the device stops "
                   "the skill" % (verify, env.VERIFY, expected))
        return int(ErrorCode.AUTH_FAILED)
    _initialised = True
    return 0


def terminate() -> int:
    """Release the framework: closes every open Display (finalising its file) and VideoCapture.
    0, or the first non-zero code of a Display whose recording is incomplete (the guide: 0 on
    success, anything else a failure). Safe to call again, and from a signal handler."""
    global _initialised
    codes = close_all()
    _initialised = False
    return next((c for c in codes if c), 0)


def is_initialised() -> bool:
    return _initialised


def warn_if_uninitialised(what: str) -> None:
    """The guide requires init() before any other call; say so once instead of failing."""
    global _warned_uninitialised
    if not _initialised and not _warned_uninitialised:
        _warned_uninitialised = True
        sfw(WARNING, "%s used before hilens.init(); the device requires init() first" % what)


def register(obj: Any) -> None:
    """Track an object with a ``close()`` so terminate() and interpreter exit can close it."""
    with _lock:
        _open.add(obj)


def unregister(obj: Any) -> None:
    with _lock:
        _open.discard(obj)


def open_objects() -> list:
    with _lock:
        return list(_open)


def close_all() -> List[int]:
    """Close every registered object; the codes their close() returned (None counts as 0)."""
    codes = []
    for obj in open_objects():
        try:
            code = obj.close()
        except Exception as exc:  # keep closing the others; a failed flush is reported
            sfw(ERROR, "closing %r failed: %s" % (obj, exc))
            code = int(ErrorCode.UNKNOWN_ERROR)
        codes.append(int(code or 0))
    return codes


def _finalise_and_die(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    sfw(WARNING, "%s received: finalising %d open Display/VideoCapture object(s), then stopping as %s does"
        % (name, len(open_objects()), name))
    close_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # die by the signal, with its usual exit status


def finalise_on_signals() -> None:
    """SIGTERM/SIGHUP (a service manager, `timeout`, a closed terminal) kill Python without atexit,
    which would leave the simulator's MP4s without their index (0 playable frames); the device's
    raw H.264 has no index to lose. So while nobody else handles these signals (their handler is
    still SIG_DFL), the simulator closes every open object first and then lets the signal kill the
    process as before. A handler the skill installs, before or after, is never replaced and takes
    over; SIG_IGN (nohup) stays. Main thread only (Python's rule for signal.signal)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in FINALISED_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _finalise_and_die)
        except (OSError, ValueError, RuntimeError):
            pass


atexit.register(close_all)
