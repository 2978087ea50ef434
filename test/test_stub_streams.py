"""Network sources are bounded in time: a stream that accepts and never answers gives up at the
open timeout, one that stalls mid-way raises at the read timeout (local servers on 127.0.0.1)."""
import socket
import threading
import time

import cv2
import numpy as np
import pytest

import hilens


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("HILENS_STREAM_OPEN_TIMEOUT", "HILENS_STREAM_READ_TIMEOUT", "HILENS_CAMERA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    hilens.terminate()


class Server:
    """A TCP server on 127.0.0.1 that runs `handler(conn)` per connection, in threads."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.handler = handler
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def silent():
    server = Server(lambda conn: None)  # accepts, then never sends a byte
    yield server
    server.close()


def open_time(url):
    t = time.monotonic()
    with pytest.raises(hilens.CreateError) as err:
        hilens.VideoCapture(url)
    return time.monotonic() - t, str(err.value)


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_silent_stream_gives_up_at_the_open_timeout(silent, monkeypatch, scheme):
    monkeypatch.setenv("HILENS_STREAM_OPEN_TIMEOUT", "1")
    url = "%s://127.0.0.1:%d/live" % (scheme, silent.port)
    seconds, msg = open_time(url)
    assert silent.conns, "the server was never contacted"
    assert seconds < 3.0, "gave up after %.1f s with a 1 s open timeout" % seconds
    assert url in msg and "1.0 s" in msg and "HILENS_STREAM_OPEN_TIMEOUT" in msg, msg


def test_silent_stream_default_open_timeout_is_about_10_s(silent):
    seconds, msg = open_time("rtsp://127.0.0.1:%d/live" % silent.port)
    assert 8.0 < seconds < 14.0, "gave up after %.1f s; documented: 10 s" % seconds
    assert "10.0 s" in msg, msg


def mjpeg_then_stall(frames):
    """An HTTP MJPEG camera (multipart/x-mixed-replace) that sends `frames` pictures and then
    keeps the connection open without sending anything more."""
    def handler(conn):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
        for i in range(frames):
            jpg = cv2.imencode(".jpg", np.full((128, 192, 3), 20 * i % 256, np.uint8))[1].tobytes()
            conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                         + jpg + b"\r\n")
            time.sleep(0.01)
        time.sleep(60)
    return handler


def test_stream_that_stalls_raises_at_the_read_timeout(monkeypatch, capsys):
    monkeypatch.setenv("HILENS_STREAM_READ_TIMEOUT", "1")
    server = Server(mjpeg_then_stall(12))
    try:
        url = "http://127.0.0.1:%d/video.mjpg" % server.port
        cap = hilens.VideoCapture(url)
        assert (cap.width, cap.height) == (192, 128)
        frames = 0
        t = time.monotonic()
        with pytest.raises(RuntimeError) as err:
            while True:
                t = time.monotonic()
                assert cap.read().shape == (192, 192)
                frames += 1
        stalled = time.monotonic() - t
        assert frames >= 6, frames
        assert stalled < 2.5, "the stalled read took %.1f s with a 1 s read timeout" % stalled
        assert url in str(err.value) and "1.0 s" in str(err.value), err.value
        assert "HILENS_STREAM_READ_TIMEOUT" in capsys.readouterr().err
        t = time.monotonic()
        with pytest.raises(RuntimeError, match="reconnect"):  # at once, saying what to do
            cap.read()
        assert time.monotonic() - t < 0.5
    finally:
        server.close()


def test_bad_timeout_values_are_refused(monkeypatch, silent):
    monkeypatch.setenv("HILENS_STREAM_OPEN_TIMEOUT", "soon")
    with pytest.raises(hilens.CreateError, match="HILENS_STREAM_OPEN_TIMEOUT"):
        hilens.VideoCapture("rtsp://127.0.0.1:%d/live" % silent.port)
    monkeypatch.setenv("HILENS_STREAM_OPEN_TIMEOUT", "0")
    with pytest.raises(hilens.CreateError, match="HILENS_STREAM_OPEN_TIMEOUT"):
        hilens.VideoCapture("rtsp://127.0.0.1:%d/live" % silent.port)
