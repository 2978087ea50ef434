"""The person stage end to end through the simulator with the real models (model/person_*.onnx,
each with its own AIPP config): the skill's matte of a small person against MediaPipe
0.10.14's own mask of the same frame (test/fixtures/pose/grace_far.npz), and main.py's run
summary with the model calls per frame."""
import os
import re

import cv2
import numpy as np
import pytest

import hilens
import main
from tools.model import pose_frames
from utils import config
from utils.pipeline import open_pipeline

from test_skill_support import ROOT

FIXTURE = os.path.join(ROOT, "test", "fixtures", "pose", "grace_far.npz")


@pytest.fixture(scope="module")
def grace_far():
    rgb = pose_frames.grace_far()
    mask = np.load(FIXTURE)["mask"].astype(np.float32) >= 0.5  # MediaPipe's own mask
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask


def pipeline(*flags):
    cfg = config.load_config(None, list(flags) + ["--background", "#000000"], base_dir=ROOT)
    return open_pipeline(cfg)


def iou(alpha, mask):
    m = alpha >= 128
    return (m & mask).sum() / float((m | mask).sum())


def test_a_small_person_is_found_followed_and_matted_as_mediapipe_does(grace_far):
    bgr, mask = grace_far
    hilens.init("matting")
    try:
        p = pipeline("--segmenter", "person")
        frame = hilens.cvt_color(bgr, hilens.BGR2YUV_NV21)
        results = [p.process(frame) for _ in range(6)]
        for r in results:
            assert r.ok and r.people == 1 and r.events == ()
            assert iou(r.alpha, mask) > 0.85, iou(r.alpha, mask)
        # found on the first frame (the whole frame, then as it found someone the three
        # square views); then followed: one segmenter call a frame, no detector
        assert [r.calls["detector"] for r in results] == [4, 0, 0, 0, 0, 0]
        assert all(r.calls["segmenter"] == 1 for r in results)
        assert all(r.model_ms["segmenter"] > 0 for r in results)
        p.close()
        # the frame without the person (the gradient she was pasted on): nobody; the first
        # frame looks at every view, then one view a frame
        p = pipeline("--segmenter", "person")
        empty = pose_frames._gradient(360, 640)
        for i in range(4):
            r = p.process(hilens.cvt_color(cv2.cvtColor(empty, cv2.COLOR_RGB2BGR),
                                           hilens.BGR2YUV_NV21))
            assert r.ok and r.people == 0 and r.alpha.max() == 0
            assert r.calls == {"detector": 4 if i == 0 else 1, "segmenter": 0}
        p.close()
    finally:
        hilens.terminate()


def test_main_reports_model_calls_per_frame(grace_far, tmp_path, capsys):
    bgr, _ = grace_far
    clip = str(tmp_path / "far.mp4")
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for i in range(8):
        writer.write(np.roll(bgr, 4 * i, axis=1))  # she walks right
    writer.release()
    rc = main.run(ROOT, ["--input", clip, "--output", str(tmp_path / "out.mp4"),
                         "--segmenter", "person", "--progress", "false"])
    out = capsys.readouterr().out
    assert rc == 0, out
    m = re.search(r"summary: model calls per frame: detector ([\d.]+) \(([\d.]+) ms\), "
                  r"segmenter ([\d.]+) \(([\d.]+) ms\); ([\d.]+) people per frame; faults "
                  r"handled: none", out)
    assert m, out
    assert 0 < float(m.group(1)) < 1 and float(m.group(3)) == 1.0 and float(m.group(5)) == 1.0
    assert re.search(r"summary: 8 frames.*people [\d.]+, infer", out)
