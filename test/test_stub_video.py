"""hilens.VideoCapture: files, image sequences, GIF, the built-in and UVC cameras, end of stream."""
import os
import time

import cv2
import numpy as np
import pytest

import hilens

W, H, N = 192, 128, 6


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("HILENS_CAMERA", "HILENS_UVC_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    hilens.terminate()


def smooth_frame(i, w=W, h=H):
    """A slowly varying picture (little codec or 4:2:0 loss) whose brightness encodes i."""
    yy, xx = np.mgrid[0:h, 0:w]
    b = (xx * 120 // w + 20 * i) % 256
    g = (yy * 100 // h + 60) % 256
    r = np.full_like(xx, 40 + 25 * i)
    return np.dstack([b, g, r]).astype(np.uint8)


def write_video(path, frames, fourcc="mp4v", fps=10):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return str(path)


def opencv_frames(path):
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            return frames
        frames.append(f)


@pytest.fixture
def mp4(tmp_path):
    return write_video(tmp_path / "clip.mp4", [smooth_frame(i) for i in range(N)])


def test_mp4_frames_are_nv21_of_what_opencv_decodes_then_end_raises(mp4):
    reference = opencv_frames(mp4)
    assert len(reference) == N
    cap = hilens.VideoCapture(mp4)
    assert (cap.width, cap.height) == (W, H)
    for ref in reference:
        frame = cap.read()
        assert frame.dtype == np.uint8 and frame.shape == (H * 3 // 2, W)
        back = cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_NV21).astype(int)
        assert np.abs(back - ref).mean() < 1.0
        assert np.abs(back - ref).max() <= 3
    # The device loops nothing: past the end read() raises, every time.
    for _ in range(2):
        with pytest.raises(RuntimeError, match="no more frames"):
            cap.read()


def test_target_size_scales_frames(mp4):
    cap = hilens.VideoCapture(mp4, 128, 256)
    assert (cap.width, cap.height) == (128, 256)
    frame = cap.read()
    assert frame.shape == (384, 128)
    ref = cv2.resize(opencv_frames(mp4)[0], (128, 256), interpolation=cv2.INTER_LINEAR)
    assert np.abs(cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_NV21).astype(int) - ref).mean() < 2.0


@pytest.mark.parametrize("size,word", [
    ((100, 128), "width"),  # not a multiple of 16
    ((120, 128), "width"),  # multiple of 8 only... 120 % 16 = 8
    ((112, 128), "width"),  # multiple of 16 but < 128
    ((128, 127), "height"),  # odd
    ((128, 126), "height"),  # < 128
    ((128.0, 128), "width"),
])
def test_bad_target_size_raises_create_error(mp4, size, word):
    with pytest.raises(hilens.CreateError, match=word):
        hilens.VideoCapture(mp4, *size)


def test_width_without_height_is_refused(mp4):
    with pytest.raises(hilens.CreateError, match="together"):
        hilens.VideoCapture(mp4, 128)


def test_odd_sized_image_sequence_is_cropped_to_even(tmp_path):
    frames = [smooth_frame(i, 161, 131) for i in range(3)]
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / ("seq_%03d.png" % i)), f)
    cap = hilens.VideoCapture(str(tmp_path / "seq_%03d.png"))
    assert (cap.width, cap.height) == (160, 130)
    for f in frames:
        out = cap.read()
        assert out.shape == (195, 160)
        back = cv2.cvtColor(out, cv2.COLOR_YUV2BGR_NV21).astype(int)
        assert np.abs(back - f[:130, :160]).max() <= 3  # lossless source: only YUV rounding + 4:2:0
    with pytest.raises(RuntimeError):
        cap.read()


def test_gif_and_avi_are_read(tmp_path):
    gif = str(tmp_path / "anim.gif")
    animation = cv2.Animation()
    animation.frames = [np.full((H, W, 3), 40 * i + 30, np.uint8) for i in range(4)]
    animation.durations = [100] * 4
    assert cv2.imwriteanimation(gif, animation)
    cap = hilens.VideoCapture(gif)
    levels = [cap.read()[:H].mean() for _ in range(4)]
    assert levels == sorted(levels) and levels[-1] - levels[0] > 80
    with pytest.raises(RuntimeError):
        cap.read()

    avi = write_video(tmp_path / "clip.avi", [smooth_frame(i) for i in range(2)], fourcc="MJPG")
    cap = hilens.VideoCapture(avi)
    assert cap.read().shape == (H * 3 // 2, W)


def test_builtin_camera_reads_test_cameras0_by_default_then_env(tmp_path, monkeypatch, mp4):
    with pytest.raises(hilens.CreateError, match="HILENS_CAMERA"):
        hilens.VideoCapture()
    os.makedirs("test")
    write_video(tmp_path / "test" / "cameras0.mp4", [smooth_frame(0, 256, 144)] * 2)
    cap = hilens.VideoCapture()
    assert cap.read().shape == (216, 256)
    monkeypatch.setenv("HILENS_CAMERA", mp4)
    assert hilens.VideoCapture().read().shape == (H * 3 // 2, W)
    with pytest.raises(hilens.CreateError, match="width/height"):
        hilens.VideoCapture(None, 128, 128)


def test_uvc_camera_returns_bgr(monkeypatch, mp4):
    monkeypatch.setenv("HILENS_UVC_SOURCE", mp4)
    cap = hilens.VideoCapture(0)
    frame = cap.read()
    assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
    assert np.array_equal(frame, opencv_frames(mp4)[0])
    with pytest.raises(hilens.CreateError):
        hilens.VideoCapture(0, 128, 128)
    with pytest.raises(hilens.CreateError, match="UVC camera 0"):
        hilens.VideoCapture(1)


@pytest.mark.parametrize("camera,word", [
    ("missing.mp4", "no such file"),
    ("dir/missing", "no such file"),
    ("IPC1", "IPC camera"),
    (3.5, "camera must be"),
    (True, "UVC camera 0"),
])
def test_missing_sources_raise_create_error(camera, word):
    with pytest.raises(hilens.CreateError, match=word):
        hilens.VideoCapture(camera)


def test_unreadable_file_raises_create_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(hilens.CreateError, match="broken.mp4"):
        hilens.VideoCapture(str(bad))


def test_terminate_closes_captures(mp4):
    cap = hilens.VideoCapture(mp4)
    cap.read()
    assert hilens.terminate() == 0
    with pytest.raises(RuntimeError, match="closed"):
        cap.read()


def red_level(nv21_frame):
    return cv2.cvtColor(nv21_frame, cv2.COLOR_YUV2BGR_NV21)[..., 2].astype(float).mean()


def test_builtin_camera_loops_seamlessly_like_a_camera(tmp_path, monkeypatch, capsys):
    # A camera never ends: the built-in camera replays its file without a gap or an error.
    monkeypatch.setenv("HILENS_CAMERA", write_video(tmp_path / "cam.mp4", [smooth_frame(i) for i in range(N)]))
    cap = hilens.VideoCapture()
    expected = [40 + 25 * i for i in range(N)]  # smooth_frame's red level encodes i
    slowest = 0.0
    for k in range(3 * N + 2):
        t = time.perf_counter()
        frame = cap.read()
        slowest = max(slowest, time.perf_counter() - t)
        assert abs(red_level(frame) - expected[k % N]) < 4, k
    assert cap.frames_read == 3 * N + 2
    assert slowest < 0.25, "a read took %.3f s (the restart must not stall)" % slowest
    assert "RuntimeError" not in capsys.readouterr().err


def test_file_opened_by_name_still_ends(mp4):
    cap = hilens.VideoCapture(mp4)
    for _ in range(N):
        cap.read()
    with pytest.raises(RuntimeError, match="end of file"):
        cap.read()


def corrupt_middle(src, dst, nbytes=2000):
    """Zero `nbytes` about 45% into the frame data (mdat) of an MP4 written by OpenCV."""
    data = bytearray(open(src, "rb").read())
    start, end = data.find(b"mdat"), data.find(b"moov")
    assert 0 < start < end, "expected mdat before moov"
    at = start + (end - start) * 45 // 100
    data[at:at + nbytes] = bytes(nbytes)
    open(dst, "wb").write(bytes(data))
    return str(dst)


def test_damaged_frame_in_the_middle_is_skipped_not_taken_for_the_end(tmp_path, capsys):
    n = 60
    frames = [smooth_frame(i % 8) for i in range(n)]
    for i, f in enumerate(frames):  # the green level encodes i, 4 levels a frame
        f[..., 1] = 4 * i
    good = write_video(tmp_path / "good.mp4", frames)
    bad = corrupt_middle(good, tmp_path / "bad.mp4")
    plain = cv2.VideoCapture(bad)  # what OpenCV does: read() fails in the middle, then goes on
    oks = [plain.read()[0] for _ in range(n)]
    first_bad = oks.index(False)
    assert 5 < first_bad < n - 5 and sum(oks) < n

    cap = hilens.VideoCapture(bad)
    greens = []
    with pytest.raises(RuntimeError, match="end of file") as end:
        while True:
            greens.append(cv2.cvtColor(cap.read(), cv2.COLOR_YUV2BGR_NV21)[..., 1].astype(float).mean())
    assert len(greens) > first_bad + 5, "stopped at frame %d of %d" % (len(greens), n)
    assert cap.frames_read + cap.frames_skipped == n and cap.frames_skipped >= 1
    assert abs(greens[-1] - 4 * (n - 1)) < 6  # the real last frame was reached
    err = capsys.readouterr().err
    assert "[WARNING]" in err and "bad.mp4" in err and "could not be decoded" in err, err
    assert "skipped" in str(end.value)


def test_frame_rate_and_open_order_are_recorded(tmp_path):
    a = hilens.VideoCapture(write_video(tmp_path / "a.mp4", [smooth_frame(0)] * 3, fps=10))
    b = hilens.VideoCapture(write_video(tmp_path / "b.mp4", [smooth_frame(0)] * 3, fps=15))
    assert (a.fps, b.fps) == (pytest.approx(10), pytest.approx(15))
    assert b.opened_seq > a.opened_seq
