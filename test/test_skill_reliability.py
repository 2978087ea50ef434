"""Issue 14 on the skill side: every failure visible, nothing lost, nothing overwritten.

Stops by signal finalise the output with exactly the frames counted as shown; outputs that
would overwrite an input are refused before anything is opened; alpha PNG and display failures
are one line, counted, and end the run non-zero; odd frames, huge JSON numbers, dead streams,
models of the wrong size, unlisted file types, relative output paths, long stretches without
a person and one-frame background videos are handled the way a user expects."""
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import hilens
import main
from utils import config
from utils.background import Background
from utils.camera import FrameReader
from utils.inference import MattingModel
from utils.pipeline import FramePipeline

from test_skill_support import (
    ERROR_CODE,
    ROOT,
    Clock,
    FakeModel,
    make_skill_dir,
    scene,
    signals_at_default,
    small_cfg,
    write_clip,
)

W, H, N = 320, 180, 30
SMALL = ["--model-width", "128", "--model-height", "72", "--background", "#5a5a5a"]
MAIN = os.path.join(ROOT, "main.py")


@pytest.fixture
def skill(tmp_path, monkeypatch):
    """A skill folder with a tiny 128x72 model and a generated clip; also the current folder
    (relative paths on the command line are relative to it)."""
    make_skill_dir(tmp_path)
    write_clip(tmp_path / "clip.mp4", W, H, N)
    monkeypatch.chdir(tmp_path)
    for name in ("HILENS_HDMI_OUTPUT", "HILENS_DISPLAY_FPS", "HILENS_CAMERA",
                 "HILENS_SKILL_CONFIG", "HILENS_STREAM_OPEN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def decodable(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def summary_shown(text):
    m = re.search(r"summary: output .*?: (\d+) frame\(s\) shown", text)
    assert m, text
    return int(m.group(1))


def errors(logged):
    return [m for lvl, m in logged if lvl == "error"]


# -- stopping by signal ----------------------------------------------------------------------

def start_skill(skill, *args, prefix=()):
    cmd = list(prefix) + [sys.executable, MAIN] + SMALL + [
        "--model", str(skill / "model" / "matting.om"), "--input", "clip.mp4", "--loop",
        "--stats-interval", "0.2", "--progress", "false"] + list(args)
    env = dict(os.environ)
    env.pop("HILENS_HDMI_OUTPUT", None)
    return subprocess.Popen(cmd, cwd=str(skill), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=env, preexec_fn=signals_at_default)


def wait_for_frames(child, n):
    """Read the child's log until its "stats:" lines add up to n frames; the lines read."""
    total, seen = 0, []
    for line in child.stderr:
        seen.append(line)
        m = re.search(r"stats: (\d+) frames", line)
        if m:
            total += int(m.group(1))
            if total >= n:
                return seen
    raise AssertionError("the skill ended before %d frames:\n%s" % (n, "".join(seen)))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_finalises_the_recording_with_every_frame_shown(skill, sig):
    child = start_skill(skill, "--output", "out.mp4")
    seen = wait_for_frames(child, 40)
    child.send_signal(sig)
    out, err = child.communicate(timeout=60)
    err = "".join(seen) + err
    assert child.returncode == 0, err
    shown = summary_shown(out)
    assert shown >= 40
    assert decodable(skill / "out.mp4") == shown  # exact: frames written == frames shown
    assert "stopped by %s" % signal.Signals(sig).name in err and "Traceback" not in err


def test_the_timeout_command_leaves_a_complete_recording(skill):
    child = start_skill(skill, "--output", "out.mp4", prefix=["timeout", "-s", "TERM", "6"])
    out, err = child.communicate(timeout=60)
    assert child.returncode == 124, err  # timeout's own status: it had to stop the command
    shown = summary_shown(out)
    assert shown > 0 and decodable(skill / "out.mp4") == shown, err
    assert "stopped by SIGTERM" in err


def test_a_3000_frame_run_stopped_by_a_service_manager_in_the_middle_is_playable(skill):
    child = start_skill(skill, "--output", "long.mp4", "--max-frames", "3000")
    seen = wait_for_frames(child, 1500)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, "".join(seen) + err
    shown = summary_shown(out)
    assert 1500 <= shown < 3000, out
    assert decodable(skill / "long.mp4") == shown


def test_signal_handlers_are_restored_when_run_returns(skill):
    before = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)]
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "o.mp4"]) == 0
    assert [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)] == before


# -- outputs that would destroy inputs -------------------------------------------------------

class Opened(object):
    """Records every hilens VideoCapture, Model and Display made."""

    def __init__(self, monkeypatch):
        self.made = []
        for name in ("VideoCapture", "Model", "Display"):
            real = getattr(hilens, name)
            monkeypatch.setattr(hilens, name, self._wrap(name, real))

    def _wrap(self, name, real):
        def make(*args, **kw):
            self.made.append(name)
            return real(*args, **kw)
        return make


@pytest.mark.parametrize("spelling", ["clip.mp4", "./clip.mp4", "{abs}", "link.mp4"])
def test_output_equal_to_the_input_is_refused_before_anything_is_opened(skill, monkeypatch,
                                                                        logged, spelling):
    os.symlink(str(skill / "clip.mp4"), str(skill / "link.mp4"))
    before = (skill / "clip.mp4").read_bytes()
    opened = Opened(monkeypatch)
    output = spelling.format(abs=str(skill / "clip.mp4"))
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", output]) == 2
    assert (skill / "clip.mp4").read_bytes() == before and opened.made == []
    assert len(errors(logged)) == 1 and "refusing to overwrite" in errors(logged)[0]


def test_output_equal_to_the_background_video_is_refused(skill, logged):
    shutil.copy(str(skill / "clip.mp4"), str(skill / "bg.mp4"))
    before = (skill / "bg.mp4").read_bytes()
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--background", "bg.mp4",
                                         "--output", "bg.mp4"]) == 2
    assert (skill / "bg.mp4").read_bytes() == before
    assert "background" in errors(logged)[0]


def test_alpha_out_equal_to_the_input_folder_is_refused(skill, monkeypatch, logged):
    folder = skill / "pics"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / ("%06d.png" % i)), scene(W, H, (i, 0, 99, 99), as_bgr=True))
    before = dict((p.name, p.read_bytes()) for p in folder.iterdir())
    opened = Opened(monkeypatch)
    assert main.run(str(skill), SMALL + ["--input", "pics", "--output", "o.mp4",
                                         "--alpha-out", "./pics/"]) == 2
    assert dict((p.name, p.read_bytes()) for p in folder.iterdir()) == before
    assert opened.made == [] and "refusing to overwrite its pictures" in errors(logged)[0]


# -- alpha PNG failures ----------------------------------------------------------------------

def test_alpha_out_naming_a_file_or_under_a_file_stops_with_one_line(skill, logged):
    (skill / "afile").write_text("not a folder")
    for target, needle in (("afile", "is a file"), ("afile/alpha", "cannot create")):
        del logged[:]
        rc = main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "o.mp4",
                                           "--alpha-out", target])
        assert rc == 2 and len(errors(logged)) == 1, logged
        assert errors(logged)[0].startswith("alpha_out: ") and needle in errors(logged)[0]


class ReadOnlyFolder(object):
    """A folder nobody can write into: a read-only tmpfs when running as root (permissions
    do not stop root), a chmod 555 folder otherwise."""

    def __init__(self, path):
        self.path = str(path)
        os.makedirs(self.path)
        self.mounted = False
        if os.geteuid() == 0:
            res = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", self.path],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if res.returncode != 0:
                pytest.skip("running as root without permission to mount a read-only tmpfs "
                            "(%s); no read-only folder can be made" % res.stdout.strip())
            self.mounted = True
        else:
            os.chmod(self.path, 0o555)

    def close(self):
        if self.mounted:
            subprocess.run(["umount", self.path])
        else:
            os.chmod(self.path, 0o755)


class SmallDisk(object):
    """A tmpfs of `size` bytes (root only), or None where it cannot be mounted."""

    @staticmethod
    def mount(path, size):
        os.makedirs(str(path))
        if os.geteuid() != 0:
            return False
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return res.returncode == 0

    @staticmethod
    def umount(path):
        subprocess.run(["umount", str(path)])


@pytest.fixture
def read_only(tmp_path):
    ro = ReadOnlyFolder(tmp_path / "ro")
    yield ro.path
    ro.close()


def test_alpha_out_in_a_read_only_folder_stops_with_one_line(skill, read_only, logged):
    rc = main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "o.mp4",
                                       "--alpha-out", read_only])
    assert rc == 2 and len(errors(logged)) == 1
    assert "cannot write into the folder" in errors(logged)[0] and read_only in errors(logged)[0]


def test_alpha_pngs_that_hit_a_full_disk_are_counted_and_end_the_run_non_zero(skill, logged,
                                                                                capsys):
    alpha = skill / "alpha"
    alpha.mkdir()
    for i in (3, 4, 5):  # writing to /dev/full fails with ENOSPC, as on a full disk
        os.symlink("/dev/full", str(alpha / ("%06d.png" % i)))
    rc = main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "o.mp4",
                                       "--alpha-out", "alpha"])
    assert rc == 1
    out = capsys.readouterr().out
    assert "alpha_out %s: %d PNG(s) written, 3 not written" % (alpha, N - 3) in out, out
    lines = [m for m in errors(logged) if m.startswith("alpha_out: cannot write")]
    assert 1 <= len(lines) <= 2 and "No space left on device" in lines[0]  # throttled
    assert sorted(os.listdir(str(alpha))) == ["%06d.png" % i for i in range(N) if i not in (3, 4, 5)]
    assert decodable(skill / "o.mp4") == N  # the video itself is complete


def test_alpha_pngs_on_a_real_full_disk(skill, logged, capsys):
    disk = skill / "disk"
    if not SmallDisk.mount(disk, 256 * 1024):
        pytest.skip("a small tmpfs needs root; the /dev/full test covers the same path")
    try:
        with open(str(disk / "filler"), "wb") as f:  # leave about 12 KiB
            f.write(b"\0" * (256 - 12) * 1024)
        rc = main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "o.mp4",
                                           "--alpha-out", str(disk / "a")])
        out = capsys.readouterr().out
        m = re.search(r"(\d+) PNG\(s\) written, (\d+) not written", out)
        assert rc == 1 and m and int(m.group(1)) + int(m.group(2)) == N, out
        names = os.listdir(str(disk / "a"))
        assert len(names) == int(m.group(1))
        assert all(cv2.imread(str(disk / "a" / n), cv2.IMREAD_UNCHANGED) is not None for n in names)
    finally:
        SmallDisk.umount(disk)


# -- the display and the exit status ---------------------------------------------------------

def test_output_that_is_a_folder_or_read_only_stops_with_one_line(skill, read_only, logged):
    (skill / "outdir").mkdir()
    for output in ("outdir", os.path.join(read_only, "x.mp4")):
        del logged[:]
        assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", output]) == 2
        lines = [m for m in errors(logged) if m.startswith("output")]
        assert len(lines) == 1 and lines[0].startswith("output: cannot open")
    assert os.listdir(str(skill / "outdir")) == [] and not (skill / "outdir.part.mp4").exists()


def test_hdmi_smaller_than_its_minimum_ends_non_zero_saying_why(skill, monkeypatch, logged):
    write_clip(skill / "tiny.mp4", 96, 64, 10)
    monkeypatch.setenv("HILENS_HDMI_OUTPUT", str(skill / "hdmi.mp4"))
    assert main.run(str(skill), SMALL + ["--input", "tiny.mp4"]) == 1
    assert any("no frame was shown" in m and "refused all 10" in m for m in errors(logged))
    assert any("output incomplete: hilens.terminate() returned" in m for m in errors(logged))


def test_frames_the_display_refuses_are_not_counted_as_shown(skill, monkeypatch, logged, capsys):
    real = hilens.Display.show
    calls = []

    def flaky(self, frame):
        calls.append(1)
        return 9 if len(calls) % 3 == 0 else real(self, frame)  # WRITE_ERROR: no room
    monkeypatch.setattr(hilens.Display, "show", flaky)
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "o.mp4"]) == 1
    out = capsys.readouterr().out
    assert "20 frame(s) shown, 10 not shown (show returned 10 x 9)" in out
    assert decodable(skill / "o.mp4") == 20
    assert any("output incomplete: 10 of 30" in m for m in errors(logged))
    assert len([m for m in errors(logged) if "show returned 9" in m]) <= 3  # throttled


def test_output_on_a_full_disk_ends_non_zero(skill, logged, capsys):
    disk = skill / "disk"
    if not SmallDisk.mount(disk, 880 * 1024):  # room for a few 640x360 frames only
        pytest.skip("a small tmpfs needs root; the refused-frames test covers the same path")
    try:
        rng = np.random.default_rng(1)  # noise: large frames, so the writer flushes soon
        writer = cv2.VideoWriter(str(skill / "big.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25,
                                 (640, 360))
        for _ in range(60):
            writer.write(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8))
        writer.release()
        rc = main.run(str(skill), SMALL + ["--input", "big.mp4", "--output", str(disk / "o.mp4")])
        out = capsys.readouterr().out
        shown = summary_shown(out)
        assert rc == 1 and 0 < shown < 60 and "not shown (show returned" in out
        assert decodable(disk / "o.mp4") == shown  # what was counted is what plays
    finally:
        SmallDisk.umount(disk)


def test_every_frame_failing_inference_ends_non_zero(skill, monkeypatch, logged):
    # the 128x72 model with the default 256x144 inputs: refused on every frame
    calls = []
    real = hilens.Model.infer

    def counted(self, inputs):
        calls.append(len(inputs))
        return real(self, inputs)
    monkeypatch.setattr(hilens.Model, "infer", counted)
    assert main.run(str(skill), ["--background", "#5a5a5a", "--input", "clip.mp4",
                                 "--output", "o.mp4"]) == 1
    assert decodable(skill / "o.mp4") == N  # still shown, untouched
    assert any("inference failed on every frame (%d)" % N in m for m in errors(logged))
    assert len(calls) <= 4, calls  # backed off: not twice a frame for ever
    first = [m for m in errors(logged) if "matting model" in m][0]
    assert "refused" in first and "sent" in first and "expected" not in first, first
    assert "256x144" in first and "55296 bytes" in first


# -- frames, values and sources --------------------------------------------------------------

def test_a_damaged_frame_mid_file_is_skipped_not_taken_for_the_end(skill, capsys):
    # the simulator skips undecodable frames mid-file; the skill plays on to the real end
    write_clip(skill / "long.mp4", W, H, 120)
    data = bytearray((skill / "long.mp4").read_bytes())
    start, end = data.find(b"mdat"), data.find(b"moov")
    at = start + (end - start) * 45 // 100
    data[at:at + 2000] = bytes(2000)
    (skill / "bad.mp4").write_bytes(bytes(data))
    assert main.run(str(skill), SMALL + ["--input", "bad.mp4", "--output", "o.mp4"]) == 0
    shown = summary_shown(capsys.readouterr().out)
    assert 100 < shown < 120 and decodable(skill / "o.mp4") == shown


def test_a_recording_keeps_the_frame_rate_of_its_source(skill):
    write_clip(skill / "ten.mp4", W, H, 10, fps=10)
    assert main.run(str(skill), SMALL + ["--input", "ten.mp4", "--output", "o.mp4"]) == 0
    cap = cv2.VideoCapture(str(skill / "o.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10, abs=0.01)
    cap.release()


def test_tiny_pictures_in_a_folder_are_skipped_inside_the_loop(skill, logged, capsys):
    folder = skill / "pics"
    folder.mkdir()
    good = scene(W, H, (100, 40, 220, 180), as_bgr=True)
    sizes = {"00.png": good, "01.png": good[:1, :1], "02.png": good[:1], "03.png": good[:, :1],
             "04.png": good}
    for name, img in sizes.items():
        cv2.imwrite(str(folder / name), img)
    assert main.run(str(skill), SMALL + ["--input", "pics", "--output", "o.mp4"]) == 0
    assert decodable(skill / "o.mp4") == 2
    assert "3 frames skipped" in capsys.readouterr().out
    assert any("1x1" in m for lvl, m in logged if lvl == "warning")


def test_a_uvc_camera_frame_of_one_pixel_or_row_reaches_the_loop_unconverted():
    frames = [np.zeros((1, 1, 3), np.uint8), np.zeros((1, 64, 3), np.uint8),
              np.zeros((64, 1, 3), np.uint8), np.zeros((48, 64, 3), np.uint8)]

    class Cam(object):
        def read(self):
            return frames.pop(0)
    r = FrameReader(lambda: Cam(), "UVC camera 0", False)
    got = [r.read() for _ in range(4)]  # no ValueError out of read()
    assert [g.shape for g in got] == [(1, 1, 3), (1, 64, 3), (64, 1, 3), (72, 64)]
    p = FramePipeline(small_cfg(), FakeModel(128, 72))
    for g in got[:3]:
        with pytest.raises(ValueError, match="1x1|64x1|1x64"):
            p.process(g)  # ... but the loop's guard: a one-line skip


@pytest.mark.parametrize("name", ["prior_decay", "guided_eps", "stats_interval", "max_frames"])
def test_a_400_digit_json_integer_is_a_bad_value_not_an_overflow(name, logged, tmp_path,
                                                                monkeypatch):
    path = tmp_path / "cfg.json"
    path.write_text('{"%s": {"value": %s}}' % (name, "9" * 400))
    monkeypatch.setenv("HILENS_SKILL_CONFIG", str(path))
    cfg = config.load_config(hilens.get_skill_config(), None)
    assert getattr(cfg, name) == config.KEY_BY_NAME[name].default
    assert len(errors(logged)) == 1 and name in errors(logged)[0]


def test_a_stream_that_says_reconnect_is_reopened_at_once():
    opened = []

    class Stalled(object):
        def read(self):
            raise RuntimeError("rtsp://cam sent no frame before; open a new VideoCapture to "
                               "reconnect")

    def opener():
        opened.append(1)
        return Stalled()
    clock = Clock()
    r = FrameReader(opener, "rtsp://cam", False, sleep=clock.sleep, clock=clock,
                    give_up_after=1.0)
    assert r.read() is None
    # every failed read is followed by a new VideoCapture, not by 8 retries of a dead one
    assert len(opened) == len(clock.sleeps) + 1 >= 4


def test_giving_up_counts_the_time_a_blocking_open_took():
    clock = Clock()
    opens = []

    def silent_server():
        opens.append(clock.t)
        clock.t += 10.0  # the open timeout
        raise RuntimeError("CreateError: no answer within 10 s")
    r = FrameReader(silent_server, "rtsp://cam", False, sleep=clock.sleep, clock=clock,
                    give_up_after=10.0)
    assert r.read() is None
    assert opens == [0.0] and clock.t == 10.0  # gave up at 10 s, not after a second open


def test_a_stop_request_ends_the_wait_for_a_dead_camera_within_a_slice():
    clock = Clock()

    class Dead(object):
        def read(self):
            return None
    r = FrameReader(lambda: Dead(), "built-in camera", False, sleep=clock.sleep, clock=clock,
                    should_stop=lambda: clock.t >= 3.0)  # the device never gives up itself
    assert r.read() is None
    assert 3.0 <= clock.t <= 3.3 and max(clock.sleeps) <= 0.25


def test_a_silent_stream_gives_up_after_one_open(skill, monkeypatch, logged):
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    monkeypatch.setenv("HILENS_STREAM_OPEN_TIMEOUT", "1")
    monkeypatch.setattr(main, "PC_CAMERA_GIVE_UP_S", 1.0)
    url = "rtsp://127.0.0.1:%d/live" % server.getsockname()[1]
    t = time.monotonic()
    try:
        assert main.run(str(skill), SMALL + ["--input", url, "--output", "o.mp4"]) == 1
        seconds = time.monotonic() - t
        server.settimeout(0.1)
        conns = []
        try:
            while True:
                conns.append(server.accept()[0])
        except OSError:
            pass
    finally:
        server.close()
    assert len(conns) == 1 and seconds < 2.5, (len(conns), seconds)
    assert any("giving up" in m for m in errors(logged))


def test_the_model_refusing_its_inputs_is_said_once_and_backed_off(logged):
    clock = Clock()
    fake = FakeModel(128, 72)
    m = MattingModel(fake, 256, 144, clock=clock)  # config 256x144, model 128x72
    frame, prior = scene(256, 144), np.zeros((144, 256), np.float32)
    results = []
    for _ in range(25 * 60):  # a minute at 25 frames/s
        results.append(m.infer(frame, prior))
        clock.t += 0.04
    assert not any(r.ok for r in results)
    assert len(fake.calls) <= 2 * 8, len(fake.calls)  # 1, 2, 4, ... s: a handful of tries
    lines = errors(logged)
    assert 1 <= len(lines) <= 8
    assert "refused" in lines[0] and "expected" not in lines[0]
    assert "image NV21 uint8 55296 bytes (256x144)" in lines[0]
    assert "inputTensorVec" in lines[0]  # where the model's own sizes are


def test_a_model_that_worked_and_then_refuses_for_good_is_backed_off_too():
    clock = Clock()
    fake = FakeModel(128, 72, script=[None] + [ERROR_CODE] * 10000)
    m = MattingModel(fake, 128, 72, clock=clock)
    frame, prior = scene(128, 72), np.zeros((72, 128), np.float32)
    assert m.infer(frame, prior).ok
    for _ in range(25 * 60):
        assert not m.infer(frame, prior).ok
        clock.t += 0.04
    assert len(fake.calls) <= 15, len(fake.calls)
    fake.script = []  # the device recovers: the next try works
    clock.t += 120.0
    assert m.infer(frame, prior).ok and m.infer(frame, prior).ok


def test_the_alpha_background_shows_the_matte_when_inference_fails():
    p = FramePipeline(small_cfg(background="alpha"), FakeModel(128, 72, script=[ERROR_CODE]))
    frame = scene(W, H, (100, 40, 220, 180))
    r = p.process(frame)
    assert not r.ok
    assert np.array_equal(r.output[:H], r.alpha) and (r.output[H:] == 128).all()
    assert not np.array_equal(r.output, frame)


def write_gif(path, n):
    from PIL import Image
    frames = [Image.fromarray(cv2.cvtColor(scene(W, H, (10 * i, 40, 10 * i + 100, 180),
                                                 as_bgr=True), cv2.COLOR_BGR2RGB))
              for i in range(n)]
    frames[0].save(str(path), save_all=True, append_images=frames[1:], duration=100, loop=0)


def test_a_relative_unlisted_file_type_is_a_file_and_a_missing_one_is_named(skill, monkeypatch,
                                                                           logged):
    write_gif(skill / "clip.gif", 12)
    monkeypatch.setattr(main, "PC_CAMERA_GIVE_UP_S", 0.5)
    assert main.run(str(skill), SMALL + ["--input", "clip.gif", "--output", "g.mp4",
                                         "--max-frames", "50"]) == 0
    assert decodable(skill / "g.mp4") == 12  # played once, to its end (not as a camera)
    assert main.run(str(skill), SMALL + ["--input", "gone.gif", "--output", "g.mp4"]) == 2
    assert any(m.startswith("input: ") and "gone.gif not found" in m for m in errors(logged))


def test_relative_paths_on_the_command_line_are_relative_to_the_current_folder(skill, tmp_path,
                                                                              monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    shutil.copy(str(skill / "clip.mp4"), str(here / "clip.mp4"))
    monkeypatch.chdir(str(here))
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "./x.mp4",
                                         "--max-frames", "5"]) == 0
    assert decodable(here / "x.mp4") == 5 and not (skill / "x.mp4").exists()
    # ... and those of the skill config stay relative to the skill folder
    (skill / "cfg.json").write_text(json.dumps({"output": {"value": "y.mp4"},
                                                "input": {"value": "clip.mp4"},
                                                "max_frames": {"value": 5}}))
    monkeypatch.setenv("HILENS_SKILL_CONFIG", str(skill / "cfg.json"))
    assert main.run(str(skill), SMALL) == 0
    assert decodable(skill / "y.mp4") == 5 and not (here / "y.mp4").exists()


def write_empty_room(path, n):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (W, H))
    for i in range(n):
        writer.write(scene(W, H, bg=(40 + i % 3, 40, 40), as_bgr=True))
    writer.release()


def test_no_person_for_a_long_time_logs_one_line_per_interval(skill, logged):
    write_empty_room(skill / "room.mp4", 20)
    assert main.run(str(skill), SMALL + ["--input", "room.mp4", "--output", "r.mp4", "--loop",
                                         "--max-frames", "400", "--stats-interval",
                                         "0.05"]) == 0
    lines = [m for lvl, m in logged if "no person" in m]
    stats = [m for lvl, m in logged if m.startswith("stats: ")]
    assert lines and len(lines) == len(stats), (lines, stats)  # one per interval
    assert re.match(r"no person found in the last [\d.]+ s \(\d+ frames\)", lines[0]), lines[0]
    del logged[:]
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "c.mp4", "--loop",
                                         "--max-frames", "400", "--stats-interval",
                                         "0.05"]) == 0
    assert not [m for lvl, m in logged if "no person" in m]


def test_a_person_is_found_from_the_matte_area_alone():
    from utils.report import PresenceWatch, person_found
    matte = np.zeros((720, 1280), np.uint8)
    assert not person_found(matte)
    matte[300:340, 600:640] = 255  # a person 40 px tall, far away: 0.17% of the frame
    assert person_found(matte)
    matte[:] = 0
    matte[300:312, 600:612] = 255  # a 12 x 12 speck: 0.016%
    assert not person_found(matte)
    clock = Clock()
    watch = PresenceWatch(clock)
    for _ in range(3):
        watch.update(matte, ok=True)
    watch.update(np.full((720, 1280), 255, np.uint8), ok=False)  # no matte: not counted
    clock.t = 60.0
    assert watch.line() == "no person found in the last 60 s (3 frames)"
    assert watch.line() == ""  # a new interval with no matte made is not reported


def test_a_one_frame_background_video_is_read_once(tmp_path, monkeypatch):
    write_clip(tmp_path / "still.mp4", 160, 90, 1)
    opened = []
    real = cv2.VideoCapture

    def counting(*args):
        opened.append(args)
        return real(*args)
    monkeypatch.setattr(cv2, "VideoCapture", counting)
    bg = Background(str(tmp_path / "still.mp4"))
    frames = [bg.frame(W, H).copy() for _ in range(20)]
    assert len(opened) == 1, len(opened)
    assert all(np.array_equal(f, frames[0]) for f in frames)
    assert frames[0][:H].std() > 5  # the picture, not the grey fallback


def test_device_code_does_not_know_the_simulator_loads_onnx_files():
    for path in ["main.py"] + ["utils/" + n for n in sorted(os.listdir(os.path.join(ROOT, "utils")))
                               if n.endswith(".py")]:
        with open(os.path.join(ROOT, path)) as f:
            tree = ast.parse(f.read())
        literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                    and isinstance(n.value, str) and n.value.lower() == ".onnx"]
        assert not literals, "%s builds .onnx paths: only the simulator knows them" % path


def test_a_model_missing_from_the_skill_folder_is_taken_from_the_model_folder(tmp_path):
    skill, models = tmp_path / "skill", tmp_path / "models"
    (skill / "model").mkdir(parents=True)
    models.mkdir()
    (models / "m.om").write_bytes(b"")
    dirs = dict(base_dir=str(skill), model_dir=str(models))
    assert config.load_config({"model": "model/m.om"}, None, **dirs).model == str(models / "m.om")
    # not in either place: the skill folder's name, for the loader to report
    assert config.load_config({"model": "model/x.om"}, None, **dirs).model == \
        str(skill / "model" / "x.om")
