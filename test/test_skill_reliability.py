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
from utils import config, nv21
from utils.background import Background
from utils.camera import FrameReader
from utils.inference import MattingModel
from utils.pipeline import FramePipeline
from test_skill_support import (ERROR_CODE, ROOT, FakeModel, make_skill_dir, scene, small_cfg,
                                write_clip)

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

# -- outputs that would destroy inputs -------------------------------------------------------

# -- alpha PNG failures ----------------------------------------------------------------------

# -- the display and the exit status ---------------------------------------------------------

# -- frames, values and sources --------------------------------------------------------------

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


class Clock(object):
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


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
