"""Shared fixtures (keep small)."""
import pytest


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
