"""hilens.init / hilens.terminate, and the registry of open devices that terminate() closes."""
from __future__ import annotations

import atexit
import threading
import weakref
from typing import Any

from . import env
from .errors import ErrorCode
from .log import ERROR, WARNING, sfw

MAX_VERIFY_CHARS = 128

_initialised = False
_warned_uninitialised = False
_open: "weakref.WeakSet[Any]" = weakref.WeakSet()
_lock = threading.Lock()


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
    """Release the framework: closes every open Display (flushing its file) and VideoCapture."""
    global _initialised
    close_all()
    _initialised = False
    return 0


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


def close_all() -> None:
    for obj in open_objects():
        try:
            obj.close()
        except Exception as exc:  # keep closing the others; a failed flush is reported
            sfw(ERROR, "closing %r failed: %s" % (obj, exc))


atexit.register(close_all)
