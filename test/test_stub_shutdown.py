"""Stopping: a service manager's SIGTERM/SIGHUP leaves a playable recording holding every frame
shown, and Display/VideoCapture finalisation is idempotent and safe to run again from a signal
handler that interrupts show() or close()."""
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import hilens

from test_skill_support import signals_at_default

W, H = 192, 128
REAL_WRITER = cv2.VideoWriter


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("HILENS_HDMI_OUTPUT", "HILENS_DISPLAY_FPS", "HILENS_CAMERA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    hilens.terminate()


def nv21(i):
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 2] = (10 * i) % 256
    return hilens.cvt_color(img, hilens.BGR2YUV_NV21)


def decodable(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


# A skill-like loop: show frames until stopped, print the count after each accepted frame.
LOOP = """
import sys, time
import numpy as np
import hilens
hilens.init("x")
{setup}
disp = hilens.Display(hilens.H264_FILE, sys.argv[1])
frame = hilens.cvt_color(np.full((128, 192, 3), 90, np.uint8), hilens.BGR2YUV_NV21)
shown = 0
try:
    while True:
        if disp.show(frame) == 0:
            shown += 1
            print("shown", shown, flush=True)
        time.sleep(0.01)
finally:
    {finally_}
"""


def stop_child(tmp_path, sig, out_name, setup="", finally_="pass"):
    """Start the loop, let it show >= 20 frames, send `sig`; (returncode, last count, stderr)."""
    code = LOOP.format(setup=setup, finally_=finally_)
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / out_name)], cwd=str(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                             preexec_fn=signals_at_default)
    last = 0
    for line in child.stdout:
        last = int(line.split()[1])
        if last >= 20:
            break
    child.send_signal(sig)
    rest, err = child.communicate(timeout=30)
    for line in rest.splitlines():
        if line.startswith("shown"):
            last = int(line.split()[1])
    return child.returncode, last, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("out_name", ["out.mp4", "out.h264"])
def test_signal_without_a_skill_handler_finalises_the_file(tmp_path, sig, out_name):
    rc, shown, err = stop_child(tmp_path, sig, out_name)
    assert rc == -sig, (rc, err)  # still dies by the signal, as without the simulator
    assert not (tmp_path / (out_name + ".part.mp4")).exists()
    frames = decodable(tmp_path / out_name)
    # the frame being shown when the signal came may be in the file before its count was printed
    assert frames in (shown, shown + 1), (frames, shown, err)
    assert signal.Signals(sig).name in err


def test_skill_handler_that_raises_gets_a_complete_file_from_terminate(tmp_path):
    setup = ("import signal\n"
             "def stop(signum, frame):\n"
             "    raise SystemExit(0)\n"
             "signal.signal(signal.SIGTERM, stop)")
    rc, shown, err = stop_child(tmp_path, signal.SIGTERM, "out.mp4", setup=setup,
                                finally_="print('terminate', hilens.terminate(), disp.frames_written, flush=True)")
    assert rc == 0, err
    assert decodable(tmp_path / "out.mp4") in (shown, shown + 1)
    assert "SIGTERM" not in err  # the skill's handler ran, not the simulator's


def test_existing_handlers_are_never_replaced(tmp_path):
    def mine(signum, frame):
        pass
    old = signal.signal(signal.SIGTERM, mine)
    old_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # e.g. started under nohup
    try:
        hilens.Display(hilens.H264_FILE, str(tmp_path / "o.mp4"))
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGHUP, old_hup)


class HookedWriter:
    """cv2.VideoWriter that runs `after_write` / `after_release` hooks, as if a signal handler
    ran right after the C call returned."""
    after_write = None
    after_release = None

    def __init__(self, *args):
        self._w = REAL_WRITER(*args)

    def isOpened(self):
        return self._w.isOpened()

    def write(self, frame):
        self._w.write(frame)
        if HookedWriter.after_write:
            hook, HookedWriter.after_write = HookedWriter.after_write, None
            hook()

    def release(self):
        self._w.release()
        if HookedWriter.after_release:
            hook, HookedWriter.after_release = HookedWriter.after_release, None
            hook()


@pytest.fixture
def hooked(monkeypatch):
    monkeypatch.setattr(hilens.display.cv2, "VideoWriter", HookedWriter)
    yield HookedWriter
    HookedWriter.after_write = HookedWriter.after_release = None


def test_terminate_from_a_handler_inside_show_is_safe(tmp_path, hooked):
    disp = hilens.Display(hilens.H264_FILE, str(tmp_path / "o.mp4"))
    assert disp.show(nv21(0)) == 0
    hooked.after_write = hilens.terminate
    assert disp.show(nv21(1)) == 0  # the frame had been written when the "handler" ran
    assert disp.show(nv21(2)) != 0  # closed now
    assert decodable(tmp_path / "o.mp4") == 2
    assert disp.close() == 0 and hilens.terminate() == 0  # again: same answer, nothing breaks


def test_terminate_from_a_handler_inside_close_finishes_the_job(tmp_path, hooked):
    path = tmp_path / "o.h264"
    disp = hilens.Display(hilens.H264_FILE, str(path))
    for i in range(3):
        assert disp.show(nv21(i)) == 0
    results = []
    hooked.after_release = lambda: results.append(hilens.terminate())
    assert disp.close() == 0
    assert results == [0]
    assert decodable(path) == 3 and not (tmp_path / "o.h264.part.mp4").exists()


def test_capture_close_is_idempotent(tmp_path):
    src = tmp_path / "c.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    writer.write(np.zeros((H, W, 3), np.uint8))
    writer.release()
    cap = hilens.VideoCapture(str(src))
    cap.close()
    cap.close()
    assert hilens.terminate() == 0
    with pytest.raises(RuntimeError, match="closed"):
        cap.read()


def test_logging_from_a_handler_that_interrupts_logging_does_not_deadlock(tmp_path):
    # A handler that logs while the main thread is inside a log call (holding the log lock).
    code = """
import sys
import hilens

class Reentrant:
    def __init__(self, inner):
        self.inner, self.done = inner, False
    def write(self, text):
        if not self.done:
            self.done = True
            hilens.warning("from the handler")
        self.inner.write(text)
    def flush(self):
        self.inner.flush()

sys.stderr = Reentrant(sys.stderr)
hilens.info("from the loop")
print("ok")
"""
    t = time.monotonic()
    res = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), timeout=20,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert res.stdout.strip() == "ok" and "from the handler" in res.stderr, res.stderr
    assert time.monotonic() - t < 15
