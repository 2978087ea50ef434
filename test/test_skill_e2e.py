"""main.py end to end through the hilens simulator, on generated clips and tiny models."""
import json
import os
import re

import cv2
import numpy as np
import pytest

import main
from utils.pipeline import FramePipeline

from test_skill_support import ROOT, make_skill_dir, write_clip, write_tiny_onnx

CLIP_W, CLIP_H, CLIP_N = 320, 180, 30
SMALL = ["--model-width", "128", "--model-height", "72"]


@pytest.fixture
def skill(tmp_path, monkeypatch):
    """A skill folder with a tiny 128x72 model, its aipp.cfg and a generated clip; also the
    current folder, which relative paths on the command line are relative to."""
    make_skill_dir(tmp_path)
    write_clip(tmp_path / "clip.mp4", CLIP_W, CLIP_H, CLIP_N)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    return frames


def test_simulated_run_writes_video_alpha_pngs_and_summary(skill, capsys):
    rc = main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "out/result.mp4",
                                       "--alpha-out", "out/alpha", "--background", "#00ff00"])
    assert rc == 0
    frames = read_video(skill / "out" / "result.mp4")
    assert len(frames) == CLIP_N and frames[0].shape == (CLIP_H, CLIP_W, 3)
    names = sorted(os.listdir(str(skill / "out" / "alpha")))
    assert names == ["%06d.png" % i for i in range(CLIP_N)]
    a = cv2.imread(str(skill / "out" / "alpha" / "000010.png"), cv2.IMREAD_UNCHANGED)
    assert a.dtype == np.uint8 and a.shape == (CLIP_H, CLIP_W)
    # the bright box is foreground, the dark rest background (green in the video)
    src = read_video(skill / "clip.mp4")[10]
    box = cv2.cvtColor(src, cv2.COLOR_BGR2GRAY) > 128
    assert a[box].mean() > 200 and a[~box].mean() < 40
    g = frames[10][~box].mean(axis=0)
    assert g[1] > 200 and g[0] < 60 and g[2] < 60
    out = capsys.readouterr().out
    m = re.search(r"summary: (\d+) frames, ([\d.]+) fps; mean ms/frame: (.*)", out)
    assert m and int(m.group(1)) == CLIP_N and float(m.group(2)) > 0
    for stage in ("read", "resize", "infer", "postprocess", "upsample", "composite", "show"):
        assert re.search(r"\b%s [\d.]+" % stage, m.group(3)), stage


def test_device_mode_reads_skill_config_camera_and_hdmi(skill, monkeypatch, logged):
    cfg = {"view": {"value": "side_by_side"}, "max_frames": {"value": "12"},
           "model_width": {"value": 128}, "model_height": {"value": 72},
           "blur_size": {"value": "eight"}}
    (skill / "cfg.json").write_text(json.dumps(cfg))
    monkeypatch.setenv("HILENS_SKILL_CONFIG", str(skill / "cfg.json"))
    monkeypatch.setenv("HILENS_CAMERA", str(skill / "clip.mp4"))
    monkeypatch.setenv("HILENS_HDMI_OUTPUT", str(skill / "hdmi.mp4"))
    assert main.run(str(skill)) == 0
    frames = read_video(skill / "hdmi.mp4")
    assert len(frames) == 12 and frames[0].shape == (CLIP_H, CLIP_W, 3)
    assert frames[5][:20].max() < 30  # side by side: black band on top
    assert len([m for lvl, m in logged if lvl == "error" and "blur_size" in m]) == 1
    assert any(m.startswith("summary: 12 frames") for _, m in logged)


def test_uvc_camera_gives_bgr_that_is_converted(skill, monkeypatch):
    monkeypatch.setenv("HILENS_UVC_SOURCE", str(skill / "clip.mp4"))
    rc = main.run(str(skill), SMALL + ["--input", "0", "--output", "uvc.mp4",
                                       "--max-frames", "10"])
    assert rc == 0 and len(read_video(skill / "uvc.mp4")) == 10


def test_model_without_prev_alpha(skill, logged):
    write_tiny_onnx(str(skill / "model" / "single.onnx"), 128, 72, feedback=False)
    rc = main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "o.mp4",
                                       "--model", "model/single.om"])
    assert rc == 0 and len(read_video(skill / "o.mp4")) == CLIP_N
    assert len([m for _, m in logged if "no prev_alpha input" in m]) == 1


def test_loop_and_image_folder_inputs(skill, capsys):
    rc = main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "loop.mp4", "--loop",
                                       "--max-frames", "45"])
    assert rc == 0 and len(read_video(skill / "loop.mp4")) == 45
    folder = skill / "frames"
    folder.mkdir()
    for i, f in enumerate(read_video(skill / "clip.mp4")[:5]):
        cv2.imwrite(str(folder / ("f%02d.jpg" % i)), f)
    rc = main.run(str(skill), SMALL + ["--input", "frames", "--output", "dir.mp4"])
    assert rc == 0 and len(read_video(skill / "dir.mp4")) == 5


def test_missing_model_and_input_fail_with_a_clear_line(skill, logged):
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--model", "model/none.om",
                                         "--output", "x.mp4"]) == 2
    assert any("model: cannot load" in m and "none.om" in m for _, m in logged)
    assert main.run(str(skill), SMALL + ["--input", "nothing.mp4", "--output", "x.mp4"]) == 2
    assert any("input video" in m and "nothing.mp4" in m for _, m in logged)


def test_broken_video_ends_with_an_error_not_a_hang(skill, logged):
    (skill / "broken.mp4").write_bytes(b"\x00" * 1000)
    rc = main.run(str(skill), SMALL + ["--input", "broken.mp4", "--output", "b.mp4"])
    assert rc == 1
    assert any("broken.mp4" in m for lvl, m in logged if lvl == "error")


def test_default_run_uses_the_bundled_sample_and_real_model(tmp_path, capsys):
    # no flags except where the result goes and how long: test/cameras0.mp4, model/
    # matting.om (the simulator runs matting.onnx), data/background.jpg
    for path in ("test/cameras0.mp4", "model/matting.onnx", "data/background.jpg"):
        assert os.path.isfile(os.path.join(ROOT, path)), path
    out = tmp_path / "r.mp4"
    assert main.main(["--max-frames", "6", "--output", str(out)]) == 0
    frames = read_video(out)
    assert len(frames) == 6 and frames[0].shape == (360, 640, 3)
    assert "summary: 6 frames" in capsys.readouterr().out


def test_unexpected_errors_skip_the_frame_and_stop_only_when_persistent(skill, monkeypatch,
                                                                         logged):
    real = FramePipeline.process
    calls = []

    def flaky(self, frame):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("injected")
        return real(self, frame)

    monkeypatch.setattr(FramePipeline, "process", flaky)
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "f.mp4"]) == 0
    assert len(read_video(skill / "f.mp4")) == CLIP_N - 1
    assert any("frame 3 failed: RuntimeError: injected" in m for _, m in logged)

    def broken(self, frame):
        raise RuntimeError("always")

    monkeypatch.setattr(FramePipeline, "process", broken)
    monkeypatch.setattr(main, "MAX_CONSECUTIVE_CRASHES", 5)
    assert main.run(str(skill), SMALL + ["--input", "clip.mp4", "--output", "g.mp4"]) == 1
    assert any("5 frames in a row failed" in m for _, m in logged)


def test_pc_run_gives_up_on_a_dead_camera(skill, monkeypatch, logged):
    monkeypatch.setenv("HILENS_UVC_SOURCE", str(skill / "no-such-camera.mp4"))
    monkeypatch.setattr(main, "PC_CAMERA_GIVE_UP_S", 0.3)
    assert main.run(str(skill), SMALL + ["--input", "0", "--output", "d.mp4"]) == 1
    assert any("giving up" in m for lvl, m in logged if lvl == "error")


def test_frames_of_changing_and_odd_sizes_keep_the_display_size(skill, logged):
    folder = skill / "mixed"
    folder.mkdir()
    src = read_video(skill / "clip.mp4")[0]
    sizes = [(320, 180)] * 3 + [(640, 360)] * 2 + [(321, 181), (160, 90)]
    for i, (w, h) in enumerate(sizes):
        cv2.imwrite(str(folder / ("%02d.png" % i)), cv2.resize(src, (w, h)))
    rc = main.run(str(skill), SMALL + ["--input", "mixed", "--output", "m.mp4"])
    assert rc == 0
    frames = read_video(skill / "m.mp4")
    assert len(frames) == len(sizes) and all(f.shape == (180, 320, 3) for f in frames)
    assert not any("show returned" in m for _, m in logged)
    assert any("frame size changed 2" in m or "frame size 320x180 -> 640x360" in m
               for _, m in logged)
