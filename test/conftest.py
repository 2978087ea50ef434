"""Shared fixtures (keep small)."""
import os

import pytest

# Before any test module imports onnxruntime: no device id, event store or uploads from test runs
# (the simulator does the same on `import hilens`; see stubs/hilens/onnxrt.py).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


@pytest.fixture
def logged():
    """Lines logged through utils.log during the test, as (level, message) tuples."""
    from utils import log
    lines = []

    def listener(level, msg):
        lines.append((level, msg))
    log.listeners.append(listener)
    yield lines
    log.listeners.remove(listener)
