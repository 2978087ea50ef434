"""ONNX Runtime without telemetry (simulator extra; the device has no ONNX Runtime).

ONNX Runtime >= 1.29 on Linux writes a persistent device id and an event store under
``$XDG_CACHE_HOME`` or ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` and uploads usage
events (model names, graph hashes, ...) to Microsoft, unless ``ORT_DISABLE_TELEMETRY`` is set
when ``onnxruntime`` is first imported (the library reads it once, at import). Importing
``hilens`` sets it (unless the user set it, e.g. to 0 to opt in), so everything imported after
``hilens`` in the process, and every child process, stays quiet. Tools that make their own
sessions use :func:`inference_session` (or :func:`import_onnxruntime`) instead of
``import onnxruntime``, so the order of imports no longer matters to them.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional, Sequence, Union

from .log import WARNING, sfw

DISABLE_VARIABLE = "ORT_DISABLE_TELEMETRY"

# Was onnxruntime already imported, without the opt-out, when hilens was imported?
_IMPORTED_BEFORE = "onnxruntime" in sys.modules and DISABLE_VARIABLE not in os.environ
_warned = False


def _opted_out() -> bool:
    # ORT treats 1/true as "off"; unset, empty, 0 and false leave telemetry on.
    return os.environ.get(DISABLE_VARIABLE, "").strip().lower() not in ("", "0", "false")


def disable_telemetry() -> None:
    """Set ORT_DISABLE_TELEMETRY=1 for this process and its children (kept if already set)."""
    os.environ.setdefault(DISABLE_VARIABLE, "1")


def import_onnxruntime() -> Any:
    """``import onnxruntime`` with its telemetry off; says once if it is too late for that."""
    global _warned
    late = _IMPORTED_BEFORE or ("onnxruntime" in sys.modules and DISABLE_VARIABLE not in os.environ)
    disable_telemetry()
    import onnxruntime  # noqa: E402 - the variable must be set first

    if late and not _warned and _opted_out():
        _warned = True
        sfw(WARNING, "onnxruntime was imported before hilens, so its telemetry (device id and event store "
                     "under ~/.cache/Microsoft/) was already on; import hilens first or set %s=1"
            % DISABLE_VARIABLE)
    if _opted_out():
        try:  # stops event collection in an already initialised runtime as well
            onnxruntime.disable_telemetry_events()
        except AttributeError:  # very old onnxruntime
            pass
    return onnxruntime


def inference_session(model: Union[str, bytes, "os.PathLike[str]"], sess_options: Optional[Any] = None,
                      providers: Optional[Sequence[str]] = None) -> Any:
    """An ``onnxruntime.InferenceSession`` made with telemetry off (CPU unless ``providers``)."""
    ort = import_onnxruntime()
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    return ort.InferenceSession(model, sess_options=sess_options,
                                providers=list(providers) if providers else ["CPUExecutionProvider"])


disable_telemetry()
