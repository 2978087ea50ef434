"""tools/package/make_sample.py and the material it made: test/cameras0.mp4, data/background.jpg."""
import os

import cv2
import numpy as np

from tools.package import make_sample

from test_skill_support import ROOT


def test_bundled_sample_video():
    path = os.path.join(ROOT, "test", "cameras0.mp4")
    assert os.path.getsize(path) < 2 * 2 ** 20
    cap = cv2.VideoCapture(path)
    assert cap.get(cv2.CAP_PROP_FPS) == 25
    n = 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        assert f.shape == (360, 640, 3)
        n += 1
    assert n == 150


def test_bundled_background():
    path = os.path.join(ROOT, "data", "background.jpg")
    img = cv2.imread(path)
    assert img is not None and img.shape == (720, 1280, 3)
    assert os.path.getsize(path) < 200 * 1024


def test_frames_are_deterministic_and_move():
    img = make_sample.stage(make_sample.portrait(), 128, 72)
    a = [make_sample.camera_frame(img, t, 128, 72) for t in (0.0, 0.25)]
    b = [make_sample.camera_frame(img, t, 128, 72) for t in (0.0, 0.25)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.abs(a[0].astype(int) - a[1]).mean() > 5  # the camera moves


def test_script_writes_video_and_background(tmp_path):
    video, bg = str(tmp_path / "v.mp4"), str(tmp_path / "bg.jpg")
    assert make_sample.main(["--video", video, "--size", "128x72", "--seconds", "0.4",
                             "--background", bg]) == 0
    cap = cv2.VideoCapture(video)
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 10
    first = cv2.imread(bg)
    make_sample.make_background(bg)
    assert np.array_equal(first, cv2.imread(bg))  # regenerates the same picture
