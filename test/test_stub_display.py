"""hilens.Display: every valid NV21 frame lands in the MP4, bad frames are refused loudly."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import hilens

W, H = 192, 128


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("HILENS_HDMI_OUTPUT", "HILENS_RTMP_OUTPUT", "HILENS_DISPLAY_FPS", "HILENS_DISPLAY_FOURCC",
                 "HILENS_CAMERA"):
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


# ---------------------------------------------------------------------------- failing visibly

def noise_frame(rng, w=W, h=H):
    """An NV21 frame that compresses badly (fills a small disk fast)."""
    return rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8)


def try_mount(target, options):
    """Mount a tmpfs (needs root with CAP_SYS_ADMIN); True when it worked."""
    if os.geteuid() != 0:
        return False
    try:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def unmount(target):
    hilens.terminate()  # a failed test may still hold a writer open on it
    subprocess.run(["umount", "-l", str(target)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder in which no file can be created, and how it was made: a read-only tmpfs where
    this process may mount one, a chmod 555 folder for a non-root user, else /proc."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if try_mount(ro, "ro,size=64k"):
        yield str(ro), "read-only tmpfs"
        unmount(ro)
    elif os.geteuid() != 0:
        ro.chmod(0o555)
        yield str(ro), "chmod 555"
        ro.chmod(0o755)
    else:
        yield "/proc", "/proc"


def test_output_that_is_a_folder_is_refused(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(hilens.CreateError, match="is a folder") as err:
        hilens.Display(hilens.H264_FILE, str(folder))
    assert str(folder) in str(err.value)
    assert not list(tmp_path.glob("*.part.mp4")) and not any(folder.iterdir())


def test_output_in_an_unwritable_folder_is_refused_at_construction(unwritable_folder, monkeypatch):
    folder, how = unwritable_folder
    target = os.path.join(folder, "out.mp4")
    with pytest.raises(hilens.CreateError, match="cannot write") as err:
        hilens.Display(hilens.H264_FILE, target)
    assert target in str(err.value), (how, err.value)
    monkeypatch.setenv("HILENS_HDMI_OUTPUT", target)
    with pytest.raises(hilens.CreateError, match="HILENS_HDMI_OUTPUT"):
        hilens.Display(hilens.HDMI)


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A 2 MiB disk: a real tmpfs where this process may mount one, else the display's
    free-space probe reports 2 MiB minus what the folder holds (say which in failures)."""
    disk = tmp_path / "small"
    disk.mkdir()
    limit = 2 << 20
    if try_mount(disk, "size=2m"):
        yield disk, "tmpfs 2 MiB"
        unmount(disk)
        return

    def free_bytes(folder):
        return limit - sum(p.stat().st_size for p in disk.iterdir())
    monkeypatch.setattr(hilens.display, "_free_bytes", free_bytes)
    yield disk, "free-space probe reporting a 2 MiB disk"


def test_full_disk_refuses_frames_visibly_and_keeps_the_file_playable(small_disk, capsys):
    disk, how = small_disk
    rng = np.random.default_rng(0)
    disp = hilens.Display(hilens.H264_FILE, str(disk / "out.mp4"))
    codes = [disp.show(noise_frame(rng)) for _ in range(240)]
    assert codes[0] == 0 and hilens.ErrorCode.WRITE_ERROR in codes, (how, codes)
    first_fail = codes.index(hilens.ErrorCode.WRITE_ERROR)
    assert set(codes[first_fail:]) == {hilens.ErrorCode.WRITE_ERROR}, how
    err = capsys.readouterr().err
    assert "[ERROR]" in err and "free" in err and str(disk) in err, (how, err)
    assert disp.close() == hilens.ErrorCode.WRITE_ERROR
    err = capsys.readouterr().err
    assert "%d of 240 frame(s)" % (240 - first_fail) in err, (how, err)
    # what was accepted is all there and playable: the index still fitted on the disk
    assert len(frames_of(disk / "out.mp4")[0]) == disp.frames_written == first_fail, how


def run_child(tmp_path, code, timeout=60):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_write_failure_the_free_space_probe_cannot_see_is_reported_at_close(tmp_path):
    # RLIMIT_FSIZE makes every write past 200 kB fail (EFBIG), as a full disk or an I/O error would.
    res = run_child(tmp_path, """
import resource, signal
import numpy as np
import hilens
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
d = hilens.Display(hilens.H264_FILE, "out.mp4")
rng = np.random.default_rng(0)
print("codes", sorted(set(d.show(rng.integers(0, 256, (192, 192), dtype=np.uint8)) for _ in range(40))))
print("rc", hilens.terminate())
print("counts", d.frames_written, d.frames_in_file)
""")
    out = res.stdout.split("\n")
    assert res.returncode == 0, res.stderr
    assert "rc 0" not in res.stdout, res.stdout + res.stderr
    written, in_file = (int(x) for x in out[2].split()[1:])
    assert in_file < written == 40
    assert "out.mp4" in res.stderr and "incomplete" in res.stderr, res.stderr


def test_hdmi_frames_below_the_minimum_fail_every_time_and_close_says_nothing_was_shown(capsys):
    disp = hilens.Display(hilens.HDMI)
    small = hilens.cvt_color(picture(0, 96, 64), hilens.BGR2YUV_NV21)
    assert [disp.show(small) for _ in range(5)] == [hilens.ErrorCode.INVALID_SRC_SIZE] * 5
    capsys.readouterr()
    assert hilens.terminate() != 0  # terminate closes it and reports the failure
    err = capsys.readouterr().err
    assert "[ERROR]" in err and "no frame" in err and "5 frame(s) refused" in err and ">= 128" in err, err
    assert disp.close() == hilens.ErrorCode.WRITE_ERROR  # idempotent: the same answer again


def test_part_file_is_announced_and_a_failed_rename_is_reported(tmp_path, capsys):
    path = tmp_path / "video.h264"
    disp = hilens.Display(hilens.H264_FILE, str(path))
    assert "video.h264.part.mp4" in capsys.readouterr().err  # said at construction
    for i in range(2):
        assert disp.show(hilens.cvt_color(picture(i), hilens.BGR2YUV_NV21)) == 0
    path.mkdir()  # something takes the name while recording
    (path / "keep").write_text("x")
    assert disp.close() == hilens.ErrorCode.RENAME_FAILED
    err = capsys.readouterr().err
    assert "[ERROR]" in err and "video.h264.part.mp4" in err, err
    assert len(frames_of(tmp_path / "video.h264.part.mp4")[0]) == 2  # nothing lost


def test_complete_file_closes_with_0_and_counts(tmp_path):
    disp = hilens.Display(hilens.H264_FILE, str(tmp_path / "ok.mp4"))
    assert disp.close() == 0  # nothing shown: nothing to report
    disp = hilens.Display(hilens.H264_FILE, str(tmp_path / "ok.mp4"))
    for i in range(3):
        disp.show(hilens.cvt_color(picture(i), hilens.BGR2YUV_NV21))
    assert disp.close() == 0 and disp.frames_in_file == disp.frames_written == 3
    assert hilens.terminate() == 0


# ---------------------------------------------------------------------------- frame rate

def write_source(path, fps, n=8):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    for i in range(n):
        writer.write(picture(i))
    writer.release()
    return str(path)


def test_file_display_keeps_the_frame_rate_of_the_source(tmp_path, capsys):
    cap = hilens.VideoCapture(write_source(tmp_path / "ten.mp4", 10))
    disp = hilens.Display(hilens.H264_FILE, str(tmp_path / "out.mp4"))
    for _ in range(8):
        assert disp.show(cap.read()) == 0
    disp.close()
    frames, fps = frames_of(tmp_path / "out.mp4")
    assert len(frames) == 8 and fps == pytest.approx(10.0)
    err = capsys.readouterr().err
    assert "10 fps" in err and "ten.mp4" in err, err


def test_builtin_camera_rate_reaches_the_hdmi_file_and_the_variable_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("HILENS_CAMERA", write_source(tmp_path / "cam.mp4", 10))
    cap = hilens.VideoCapture()
    disp = hilens.Display(hilens.HDMI)
    for _ in range(3):
        disp.show(cap.read())
    disp.close()
    assert frames_of(tmp_path / "hdmi_output.mp4")[1] == pytest.approx(10.0)
    monkeypatch.setenv("HILENS_DISPLAY_FPS", "12")
    disp = hilens.Display(hilens.H264_FILE, str(tmp_path / "o.mp4"))
    disp.show(cap.read())
    disp.close()
    assert frames_of(tmp_path / "o.mp4")[1] == pytest.approx(12.0)


def test_newest_open_source_sets_the_rate_and_a_closed_one_does_not(tmp_path):
    old = hilens.VideoCapture(write_source(tmp_path / "a.mp4", 10))
    new = hilens.VideoCapture(write_source(tmp_path / "b.mp4", 15))
    disp = hilens.Display(hilens.H264_FILE, str(tmp_path / "o1.mp4"))
    disp.show(new.read())
    disp.close()
    assert frames_of(tmp_path / "o1.mp4")[1] == pytest.approx(15.0)
    new.close()
    disp = hilens.Display(hilens.H264_FILE, str(tmp_path / "o2.mp4"))
    disp.show(old.read())
    disp.close()
    assert frames_of(tmp_path / "o2.mp4")[1] == pytest.approx(10.0)
