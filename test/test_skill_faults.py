"""Fault injection: cameras that fail, models that return error codes or NaN, frames of the
wrong size, and the pipeline rules that keep the output sane (no ghosts, fixed size)."""
import os

import cv2
import numpy as np
import pytest

from utils import nv21
from utils.camera import FrameReader, ImageFolderCapture, open_source
from utils.pipeline import STAGES, FramePipeline, FrameResult

from test_skill_support import ERROR_CODE, Clock, FakeModel, scene, small_cfg

W, H = 320, 180
PERSON = (100, 40, 220, 180)


class FakeCamera(object):
    """Plays a script: a frame, None/empty (nothing), or an exception instance (raised)."""

    def __init__(self, script):
        self.script = list(script)
        self.reads = 0

    def read(self):
        self.reads += 1
        item = self.script.pop(0) if self.script else RuntimeError("end of file")
        if isinstance(item, Exception):
            raise item
        return item


# -- camera --------------------------------------------------------------------------

def test_live_camera_failures_back_off_and_recover(logged):
    frame = scene(64, 64)
    cam = FakeCamera([None, np.empty((0,), np.uint8), IOError("usb"), None, frame])
    clock = Clock()
    r = FrameReader(lambda: cam, "UVC camera 0", False, sleep=clock.sleep, clock=clock)
    got = r.read()
    assert got is frame
    assert clock.sleeps == [0.05, 0.1, 0.2, 0.4]  # exponential, never a busy loop
    assert cam.reads == 5  # four failed reads, one pause after each, then the frame
    warnings = [m for lvl, m in logged if lvl == "warning"]
    assert 1 <= len(warnings) <= 2 and "UVC camera 0" in warnings[0]
    assert any("recovered after 4" in m for _, m in logged)


def test_back_off_is_capped_and_camera_reopened(logged):
    opened = []

    def opener():
        opened.append(1)
        return FakeCamera([None] * 3)

    clock = Clock()
    r = FrameReader(opener, "built-in camera", False, sleep=clock.sleep, clock=clock,
                    reopen_after=4, give_up_after=30.0)
    assert r.read() is None  # gave up after 30 s (the device default never gives up)
    assert max(clock.sleeps) == 2.0 and clock.t >= 30.0
    assert len(opened) >= 3
    assert any("giving up" in m for _, m in logged)
    # logging is throttled: far fewer lines than failures (one pause after each failure)
    assert len(clock.sleeps) >= 15
    assert len([m for lvl, m in logged if lvl == "warning"]) < len(clock.sleeps) / 2


def test_camera_that_cannot_be_opened_is_retried():
    calls = []

    def opener():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("CreateError: camera busy")
        return FakeCamera([scene(64, 64)])

    clock = Clock()
    r = FrameReader(opener, "IPC camera c1", False, sleep=clock.sleep, clock=clock)
    assert r.read() is not None and len(calls) == 3 and len(clock.sleeps) == 2


@pytest.mark.parametrize("end", [RuntimeError("no more frames"), np.empty((0,), np.uint8),
                                 None])
def test_file_ends_cleanly_whether_it_raises_or_returns_empty(end, logged):
    frames = [scene(64, 64, (i, 0, i + 8, 64)) for i in range(3)]
    clock = Clock()
    r = FrameReader(lambda: FakeCamera(frames + [end]), "video x.mp4", True,
                    sleep=clock.sleep, clock=clock)
    got = [r.read() for _ in range(3)]
    assert all(g is f for g, f in zip(got, frames))
    assert r.read() is None and clock.sleeps == []
    assert any("end of video x.mp4 after 3" in m for _, m in logged)


def test_file_loops_when_configured():
    opened = []

    def opener():
        opened.append(1)
        return FakeCamera([scene(64, 64), scene(64, 64), RuntimeError("eof")])

    r = FrameReader(opener, "video x.mp4", True, loop=True)
    assert all(r.read() is not None for _ in range(7))
    assert len(opened) == 4


def test_empty_looping_file_does_not_spin(logged):
    r = FrameReader(lambda: FakeCamera([]), "video empty.mp4", True, loop=True)
    assert r.read() is None
    assert any("gave no frames" in m for lvl, m in logged if lvl == "error")


def test_uvc_bgr_frames_become_nv21_and_odd_sizes_are_cropped(logged):
    bgr = scene(65, 49, as_bgr=True)
    r = FrameReader(lambda: FakeCamera([bgr, bgr]), "UVC camera 0", False)
    f = r.read()
    assert f.shape == (72, 64) and nv21.nv21_size(f) == (64, 48)
    r.read()
    assert len([m for _, m in logged if "odd" in m]) == 1


def test_open_source_kinds(tmp_path):
    seen = []

    def vc(*args):
        seen.append(args)
        return FakeCamera([])

    assert not open_source("", vc).is_file
    assert not open_source("0", vc).is_file
    assert not open_source("rtsp://cam/1", vc).is_file
    assert not open_source("IPC1", vc).is_file
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    assert open_source(str(clip), vc).is_file
    with pytest.raises(ValueError, match="not found"):
        open_source(str(tmp_path / "missing.mp4"), vc)
    for r in [open_source(s, vc) for s in ("", "0", "rtsp://cam/1", "IPC1", str(clip))]:
        r._open()
    assert seen == [(), (0,), ("rtsp://cam/1",), ("IPC1",), (os.path.abspath(str(clip)),)]


def test_image_folder_source(tmp_path):
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / ("%03d.png" % i)), scene(32, 16, as_bgr=True) + i)
    (tmp_path / "notes.txt").write_text("not an image")
    r = open_source(str(tmp_path), None)
    frames = [r.read() for _ in range(4)]
    assert frames[3] is None
    assert [int(f[0, 0]) for f in frames[:3]] == sorted(int(f[0, 0]) for f in frames[:3])
    with pytest.raises(ValueError, match="no"):
        ImageFolderCapture(str(tmp_path / ".."))  # a folder without images


# -- pipeline ------------------------------------------------------------------------

def make_pipeline(kind="bright", script=None, feedback=True, **cfg):
    fake = FakeModel(128, 72, kind, feedback=feedback, script=script)
    return FramePipeline(small_cfg(**cfg), fake), fake


def test_the_frame_result_carries_output_alpha_timings_and_model_calls():
    p, _ = make_pipeline()
    r = p.process(scene(W, H, PERSON))
    assert isinstance(r, FrameResult) and r.ok and r.resets == ()
    assert r.output.shape == (H * 3 // 2, W) and r.output.dtype == np.uint8
    assert r.alpha.shape == (H, W) and r.alpha_half.shape == (H // 2, W // 2)
    assert tuple(r.stage_ms) == STAGES == ("resize", "people", "infer", "postprocess",
                                           "upsample", "composite")
    assert all(v >= 0 for v in r.stage_ms.values()) and sum(r.stage_ms.values()) > 0
    assert r.model_calls == 1
    # each frame has its own timings, not a view of the pipeline's
    assert p.process(scene(W, H, PERSON)).stage_ms is not r.stage_ms


def test_person_kept_and_background_replaced():
    p, _ = make_pipeline(background="#0000ff")  # blue
    frame = scene(W, H, PERSON)
    r = p.process(frame)
    bgr = cv2.cvtColor(r.output, cv2.COLOR_YUV2BGR_NV21).astype(int)
    assert np.abs(bgr[110, 160] - 220).max() <= 4           # person untouched
    assert np.abs(bgr[20, 20] - (255, 0, 0)).max() <= 6     # background is blue
    assert (r.alpha[45:, 105:215] >= 250).all() and (r.alpha[:, :90] == 0).all()
    assert (r.alpha[:35] == 0).all()


def test_bgr_input_is_accepted():
    p, _ = make_pipeline()
    r = p.process(scene(W, H, PERSON, as_bgr=True))
    assert r.output.shape == (H * 3 // 2, W) and r.ok


@pytest.mark.parametrize("action", [ERROR_CODE, "nan", "inf", "raise", "short"])
def test_model_fault_shows_the_untouched_frame_and_resets_the_prior(action):
    p, fake = make_pipeline("max", script=[None, None, action, None])
    frame = scene(W, H, PERSON)
    p.process(frame)
    p.process(frame)
    assert p.state.has_prior
    r = p.process(frame)
    assert np.array_equal(r.output, frame) and not r.ok
    assert (r.alpha == 255).all() and (r.alpha_half == 255).all()
    assert r.stage_ms["postprocess"] == 0.0 and r.stage_ms["upsample"] == 0.0
    assert not p.state.has_prior and r.resets == ("inference failed",)
    r = p.process(frame)
    assert r.ok and r.resets == ()
    assert fake.priors[-1].max() == 0  # the frame after the fault starts without a prior


def test_model_without_prev_alpha_input_works():
    p, fake = make_pipeline("bright", feedback=False)
    results = [p.process(scene(W, H, PERSON)) for _ in range(3)]
    assert all(r.ok for r in results) and fake.calls == [2, 1, 1, 1]
    assert [r.model_calls for r in results] == [2, 1, 1]  # the first frame probed


@pytest.mark.parametrize("bad", [
    np.zeros((181, 320), np.uint8),          # not H*3/2 rows
    np.zeros((270, 321), np.uint8),          # odd width
    np.zeros((180, 320, 3), np.float32),     # not uint8
    np.zeros((181, 320, 3), np.uint8),       # odd BGR height
    np.zeros((10,), np.uint8),
])
def test_bad_frames_raise_value_error_and_leave_the_pipeline_usable(bad):
    p, _ = make_pipeline()
    p.process(scene(W, H, PERSON))
    with pytest.raises(ValueError):
        p.process(bad)
    r = p.process(scene(W, H, PERSON))
    assert r.output.shape == (H * 3 // 2, W) and r.ok


def test_display_size_never_changes_and_size_change_resets_the_prior():
    p, _ = make_pipeline("max")
    first = p.process(scene(W, H, PERSON)).output.shape
    p.process(scene(W, H, PERSON))
    r = p.process(scene(640, 360, (200, 80, 440, 360)))
    assert r.output.shape == first and r.alpha.shape == (360, 640)
    assert r.resets == ("frame size changed",)
    bgr = cv2.cvtColor(r.output, cv2.COLOR_YUV2BGR_NV21).astype(int)
    assert np.abs(bgr[110, 160] - 220).max() <= 6  # the new frame, scaled to the display
    for view in ("side_by_side",):
        q, _ = make_pipeline(view=view)
        a = q.process(scene(W, H, PERSON)).output.shape
        assert q.process(scene(640, 360)).output.shape == a == (H * 3 // 2, W)


def test_scene_cut_resets_the_prior():
    p, _ = make_pipeline("max", scene_cut=20.0)
    resets = [p.process(scene(W, H, PERSON)).resets for _ in range(3)]
    resets.append(p.process(scene(W, H, PERSON, bg=(200, 200, 200), fg=(10, 10, 10))).resets)
    assert resets == [(), (), (), ("scene cut",)]


@pytest.mark.parametrize("history", [False, True])
@pytest.mark.parametrize("kind,post,frames", [("echo", False, 6), ("max", False, 6),
                                              ("echo", True, 2), ("max", True, 2)])
def test_person_leaving_leaves_no_ghost(kind, post, frames, history):
    # scene cut off: only the prior rule (and, with `post`, the default post-processing)
    # can clear the ghost of a model that trusts its prior. The matte history (its
    # defaults) adds no frame with the post-processing (the ghost is thresholded away while
    # it fades); without it, it holds the raw fading ghost (unsure, on an unchanged picture)
    # until the model lets go: one frame more
    keys = {} if history else {"history": 0.0, "history_bridge": 0}
    if history and not post:
        frames += 1
    p, _ = make_pipeline(kind, scene_cut=0.0, cleanup=post, threshold=post, **keys)
    if kind == "echo":  # an echo model needs a prior to start from: the bright model's
        p.model.model.kind = "bright"
    for _ in range(10):
        r = p.process(scene(W, H, PERSON))
    assert r.alpha[100, 160] == 255
    p.model.model.kind = kind
    empty = scene(W, H)
    maxima = []
    for _ in range(8):
        maxima.append(int(p.process(empty).alpha.max()))
    assert maxima[-1] == 0 and maxima.index(0) <= frames - 1, maxima
    if not post:
        assert maxima[:5] == sorted(maxima[:5], reverse=True) and maxima[1] > 0  # fading
    out = cv2.cvtColor(p.process(empty).output, cv2.COLOR_YUV2BGR_NV21)
    assert np.abs(out.astype(int) - 0x5a).max() <= 3  # all background


def test_ghost_stays_without_the_rule():
    # the control: decay 1 and floor 0 feed the raw alpha back, and the ghost stays
    p, _ = make_pipeline("max", scene_cut=0.0, prior_decay=1.0, prior_floor=0.0)
    for _ in range(5):
        p.process(scene(W, H, PERSON))
    for _ in range(10):
        r = p.process(scene(W, H))
    assert r.alpha[100, 160] == 255


def test_background_modes_through_the_pipeline():
    frame = scene(W, H, PERSON)
    for bg in ("blur", "green", "alpha", "#102030"):
        p, _ = make_pipeline(background=bg)
        r = p.process(frame)
        assert r.output.shape == frame.shape
        if bg == "alpha":
            assert np.array_equal(r.output[:H], r.alpha) and (r.output[H:] == 128).all()
        if bg == "green":
            g = cv2.cvtColor(r.output, cv2.COLOR_YUV2BGR_NV21)[20, 20].astype(int)
            assert np.abs(g - (0, 255, 0)).max() <= 4


def test_resizer_failure_falls_back_to_opencv(logged):
    def bad_resizer(src, w, h):
        raise ValueError("Preprocessor.resize: src is 4000x3000")

    p = FramePipeline(small_cfg(), FakeModel(128, 72), resizer=bad_resizer)
    for _ in range(3):
        r = p.process(scene(W, H, PERSON))
        assert r.output.shape == (H * 3 // 2, W) and r.ok
    assert len([m for lvl, m in logged if "resize" in m]) == 1
