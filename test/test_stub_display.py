"""hilens.Display: every valid NV21 frame lands in the MP4, bad frames are refused loudly."""
import os

import cv2
import numpy as np
import pytest

import hilens

W, H = 192, 128


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("HILENS_HDMI_OUTPUT", "HILENS_RTMP_OUTPUT", "HILENS_DISPLAY_FPS", "HILENS_DISPLAY_FOURCC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    hilens.terminate()


def picture(i, w=W, h=H):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.dstack([xx * 200 // w, yy * 200 // h, np.full_like(xx, 30 * i)]).astype(np.uint8)
    return img


def frames_of(path):
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            return out, cap.get(cv2.CAP_PROP_FPS)
        out.append(f)


def test_h264_file_display_writes_every_frame_in_order(tmp_path):
    path = tmp_path / "out.mp4"
    disp = hilens.Display(hilens.H264_FILE, str(path))
    shown = [picture(i) for i in range(8)]
    for img in shown:
        assert disp.show(hilens.cvt_color(img, hilens.BGR2YUV_NV21)) == 0
    disp.close()
    frames, fps = frames_of(path)
    assert len(frames) == len(shown)
    assert fps == pytest.approx(25.0)
    for got, img in zip(frames, shown):
        assert got.shape == (H, W, 3)
        assert np.abs(got.astype(int) - img).mean() < 3.0  # mp4v is lossy; order is checked by the red ramp
    reds = [f[..., 2].mean() for f in frames]
    assert reds == sorted(reds) and reds[-1] - reds[0] > 150


def test_hdmi_output_path_from_env_and_default(tmp_path, monkeypatch):
    disp = hilens.Display(hilens.HDMI)
    assert disp.show(hilens.cvt_color(picture(1), hilens.BGR2YUV_NV21)) == 0
    disp.close()
    assert len(frames_of(tmp_path / "hdmi_output.mp4")[0]) == 1

    target = tmp_path / "sub" / "screen.mp4"
    monkeypatch.setenv("HILENS_HDMI_OUTPUT", str(target))
    monkeypatch.setenv("HILENS_DISPLAY_FPS", "12")
    disp = hilens.Display(hilens.HDMI)
    for i in range(3):
        assert disp.show(hilens.cvt_color(picture(i), hilens.BGR2YUV_NV21)) == 0
    assert hilens.terminate() == 0  # terminate flushes the open display
    frames, fps = frames_of(target)
    assert len(frames) == 3 and fps == pytest.approx(12.0)


def test_only_one_hdmi_display_at_a_time():
    first = hilens.Display(hilens.HDMI)
    with pytest.raises(hilens.CreateError, match="HDMI"):
        hilens.Display(hilens.HDMI)
    first.close()
    hilens.Display(hilens.HDMI).close()


def test_raw_h264_path_gets_the_file_on_close(tmp_path):
    path = tmp_path / "video.h264"
    disp = hilens.Display(hilens.H264_FILE, str(path))
    for i in range(2):
        assert disp.show(hilens.cvt_color(picture(i), hilens.BGR2YUV_NV21)) == 0
    disp.close()
    assert path.is_file() and not (tmp_path / "video.h264.part.mp4").exists()
    assert len(frames_of(path)[0]) == 2


def test_bad_frames_return_error_codes_and_are_logged_never_raised(capsys):
    disp = hilens.Display(hilens.HDMI)
    good = hilens.cvt_color(picture(0), hilens.BGR2YUV_NV21)
    bad = [
        ("BGR picture", picture(0), "cvt_color"),
        ("float frame", good.astype(np.float32), "uint8"),
        ("list", good.tolist(), "NV21"),
        ("rows not H*3/2", good[:-1], "rows"),
        ("odd width", np.zeros((H * 3 // 2, W - 1), np.uint8), "even"),
        ("too small for HDMI", hilens.cvt_color(picture(0, 96, 64), hilens.BGR2YUV_NV21), ">= 128"),
    ]
    for label, frame, word in bad:
        code = disp.show(frame)
        assert isinstance(code, int) and code != 0, label
        err = capsys.readouterr().err
        assert "[ERROR]" in err and word in err, (label, err)
    assert disp.show(good) == 0  # fixes the size to W x H
    other = hilens.cvt_color(picture(0, 256, 144), hilens.BGR2YUV_NV21)
    assert disp.show(other) == hilens.ErrorCode.INVALID_SRC_SIZE
    assert "first frame" in capsys.readouterr().err
    assert disp.show(good) == 0
    assert (disp.frames_written, disp.frames_rejected) == (2, len(bad) + 1)
    disp.close()
    assert disp.show(good) != 0  # closed
    assert len(frames_of(disp.path)[0]) == 2


@pytest.mark.parametrize("args,word", [
    ((7,), "type"),
    ((True,), "type"),
    ((hilens.H264_FILE,), "path"),
    ((hilens.H264_FILE, ""), "path"),
    ((hilens.H264_FILE, "/no/such/folder/out.mp4"), "folder"),
    ((hilens.RTMP, "http://example/stream"), "rtmp://"),
])
def test_bad_display_arguments_raise_create_error(args, word):
    with pytest.raises(hilens.CreateError, match=word):
        hilens.Display(*args)


def test_rtmp_display_writes_its_stand_in_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HILENS_RTMP_OUTPUT", str(tmp_path / "rtmp.mp4"))
    disp = hilens.Display(hilens.RTMP, "rtmp://192.168.1.1/stream")
    assert disp.show(hilens.cvt_color(picture(0, 64, 64), hilens.BGR2YUV_NV21)) == 0  # no 128 rule off HDMI
    disp.close()
    assert len(frames_of(tmp_path / "rtmp.mp4")[0]) == 1
    assert not os.path.exists(tmp_path / "hdmi_output.mp4")
