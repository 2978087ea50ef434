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


# -- tests that read ../shared/data ----------------------------------------------------------
# A test that needs the shared data sets says so with @pytest.mark.shared_data("hsd", ...)
# (folders of tools.paths.shared_data()). Where one is missing, as in a fresh clone without
# ../shared, it fails at once with one line naming the folder and MATTING_SHARED_DATA, instead
# of a FileNotFoundError deep inside a tool; it is never skipped (CI has the data, and a test
# that silently stops running there would hide a regression).

def pytest_configure(config):
    config.addinivalue_line("markers", "shared_data(*folders): the test reads these folders "
                                       "of the shared data (../shared/data or "
                                       "$MATTING_SHARED_DATA) and fails naming them if missing")


def missing_shared_data(folders):
    """The one-line failure for the first missing folder, or ''."""
    from tools import paths
    for name in folders:
        path = paths.shared_data() / name
        if not path.is_dir():
            return ("needs %s (the shared data; set %s to the folder that holds hsd/, ccp/, "
                    "davis/ and videos/, see README.md)" % (path, paths.DATA_ENV))
    return ""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    folders = [f for mark in item.iter_markers("shared_data") for f in mark.args]
    why = missing_shared_data(folders)
    if why:
        pytest.fail(why, pytrace=False)
