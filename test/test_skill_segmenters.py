"""The pipeline with the person stage (segmenter person and auto) on fake networks: the matte
size, which models run per frame, the fallbacks, and open_pipeline's choice of models."""

import cv2
import numpy as np
import pytest

import hilens
from utils import people as ppl
from utils.pipeline import STAGES, FramePipeline, open_pipeline

from people_fakes import ERROR, FakeDetector, FakeSegmenter, scene
from test_skill_support import FakeModel, make_skill_dir, small_cfg

W, H = 640, 360
PERSON = (280, 120, 340, 300)


def person_stage(detector=None, segmenter=None):
    return ppl.People(detector or FakeDetector(), segmenter or FakeSegmenter(),
                      hilens.Preprocessor())


def iou(alpha, *boxes):
    gt = np.zeros(alpha.shape, bool)
    for x0, y0, x1, y1 in boxes:
        gt[y0:y1, x0:x1] = True
    m = alpha >= 128
    return (m & gt).sum() / float((m | gt).sum())


def test_the_pipeline_needs_a_segmenter():
    with pytest.raises(ValueError, match="selfie model, the person stage or both"):
        FramePipeline(small_cfg())


def test_person_mode_mattes_the_people_at_the_matte_size():
    p = FramePipeline(small_cfg(), people=person_stage())
    assert p.segmenter == "person"
    r = p.process(scene(W, H, [PERSON]))
    assert p.matte_size == (384, 216)  # matte_height 216 rows, the frame's aspect
    assert r.ok and r.people == 1 and tuple(r.stage_ms) == STAGES
    assert r.calls == {"detector": 4, "segmenter": 1} and r.model_calls == 5
    assert set(r.model_ms) == {"detector", "segmenter"}
    assert iou(r.alpha, PERSON) > 0.9
    # a frame smaller than matte_height: the matte is the frame's size
    small = FramePipeline(small_cfg(matte_height=288), people=person_stage())
    small.process(scene(320, 180, [(140, 40, 180, 170)]))
    assert small.matte_size == (320, 180)


def test_auto_runs_the_selfie_model_only_when_its_rule_says():
    selfie = FakeModel(128, 72)
    p = FramePipeline(small_cfg(), selfie, people=person_stage())
    assert p.segmenter == "auto"
    r = p.process(scene(W, H, []))  # nobody: the selfie model's turn
    assert r.calls["selfie"] == 1 and r.people == 0
    r = p.process(scene(W, H, [PERSON]))  # a person at a distance, found: the selfie model
    assert r.calls["selfie"] == 1 and r.people == 1  # looks too (selfie_hold), finds nobody
    assert iou(r.alpha, PERSON) > 0.9 and not p.fusion.holding  # else: its matte left out
    assert not p.state.has_prior  # ... and its prior: the next run starts as it would have
    r = p.process(scene(W, H, [PERSON]))  # followed, no detector: the person stage alone
    assert r.calls["selfie"] == 0 and r.calls["detector"] == 0 and iou(r.alpha, PERSON) > 0.9
    assert not p.state.has_prior  # the selfie prior does not outlive a skipped frame
    off = FramePipeline(small_cfg(selfie_hold=0.0), FakeModel(128, 72), people=person_stage())
    off.process(scene(W, H, []))
    r = off.process(scene(W, H, [PERSON]))  # selfie_hold 0: no second look
    assert r.calls["selfie"] == 0 and r.people == 1
    close = FramePipeline(small_cfg(closeup=0.0), FakeModel(128, 72), people=person_stage())
    r = close.process(scene(W, H, [PERSON]))  # every face is a close-up: both, fused
    assert r.calls == {"detector": 4, "segmenter": 1, "selfie": 1}
    assert iou(r.alpha, PERSON) > 0.8


class DimBlind(FakeDetector):
    """A detector that does not see people dimmer than Y 200 (as the pose detector misses a
    face in profile looking down: hsd/068 of the several-people suite)."""

    def infer(self, inputs):
        x = inputs[0].copy()
        y = x[:self.size * self.size]
        y[y < 200] = 30
        return FakeDetector.infer(self, [x] + list(inputs[1:]))


NEAR = (10, 150, 180, 360)  # a person near the camera the detector misses (Y 160)


def with_near(boxes, near=True):
    frame = scene(W, H, boxes)
    if near:
        x0, y0, x1, y1 = NEAR
        frame[y0:y1, x0:x1] = 160
    return frame


def test_auto_holds_the_selfie_matte_where_it_finds_someone_nobody_follows():
    def run(cfg):
        return FramePipeline(cfg, FakeModel(128, 72), people=person_stage(DimBlind()))
    p = run(small_cfg())
    r = p.process(with_near([PERSON]))  # the detector finds PERSON only; the selfie looks too
    assert r.people == 1 and r.calls["detector"] >= 1 and r.calls["selfie"] == 1
    assert p.fusion.holding and iou(r.alpha, NEAR, PERSON) > 0.8
    for _ in range(3):  # no detector pass: the selfie model runs on for the region it holds
        r = p.process(with_near([PERSON]))
        assert r.calls["detector"] == 0 and r.calls["selfie"] == 1
        assert iou(r.alpha, NEAR, PERSON) > 0.8
    r = p.process(with_near([PERSON], near=False))  # gone: the hold ends ...
    assert r.calls["selfie"] == 1 and not p.fusion.holding and iou(r.alpha, PERSON) > 0.9
    r = p.process(with_near([PERSON], near=False))  # ... and the selfie model stops
    assert r.calls["selfie"] == 0 and iou(r.alpha, PERSON) > 0.9
    # a close-up ends a hold: the selfie's whole matte joins
    p = run(small_cfg())
    p.process(with_near([PERSON]))
    assert p.fusion.holding
    p.fusion.closeup = 0.0
    r = p.process(with_near([PERSON]))
    assert r.calls["selfie"] == 1 and not p.fusion.holding and iou(r.alpha, NEAR, PERSON) > 0.8
    # the rule off: the near person is not in the matte
    off = run(small_cfg(selfie_hold=0.0))
    for _ in range(3):
        r = off.process(with_near([PERSON]))
        assert r.calls["selfie"] == 0 and r.people == 1
        assert iou(r.alpha, NEAR) < 0.01 and iou(r.alpha, PERSON) > 0.9


class Wide(FakeModel):
    """A selfie model whose view of a person is wider than the person (as the real one's of
    someone a few metres away: a blob with a soft rim, the haze that flickered)."""

    def infer(self, inputs):
        out = FakeModel.infer(self, inputs)
        a = out[0].reshape(self.h, self.w)
        wide = cv2.dilate(a, np.ones((5, 5), np.uint8))
        return [cv2.GaussianBlur(wide, (5, 5), 0).reshape(-1)]


def test_auto_leaves_a_followed_persons_edge_to_the_person_stage():
    def halo(cfg):
        p = FramePipeline(cfg, Wide(128, 72), people=person_stage(DimBlind()))
        for _ in range(2):
            r = p.process(with_near([PERSON]))
        ring = np.zeros(r.alpha.shape, bool)
        x0, y0, x1, y1 = PERSON
        ring[y0 - 12:y1 + 12, x0 - 12:x1 + 12] = True
        ring[y0:y1, x0:x1] = False
        return r, float(r.alpha[ring].mean()) / 255.0

    def p_holding(r):
        return iou(r.alpha, NEAR) > 0.3
    # nobody a close-up: the selfie model runs for the near person nobody follows (its hold)
    r, on = halo(small_cfg(closeup=1.0))
    assert r.calls["selfie"] == 1 and p_holding(r) and on < 0.03  # the followed one: left out
    assert iou(r.alpha, NEAR, PERSON) > 0.8  # the person, and the one nobody follows: kept
    r, off = halo(small_cfg(closeup=0.0))  # every face a close-up: the whole matte, its haze
    assert r.calls["selfie"] == 1 and off > 0.2


class Mural(FakeModel):
    """A selfie model that takes a picture on the wall beside a person for part of them
    (DAVIS rollerblade: the mural joined to the skater, a region mostly not the person)."""

    def infer(self, inputs):
        out = FakeModel.infer(self, inputs)
        a = out[0].reshape(self.h, self.w)
        if a.any():
            rows, cols = np.nonzero(a)
            r0, r1, c1 = rows.min(), rows.max() + 1, cols.min()
            a[r0:r1, max(0, c1 - (cols.max() + 1 - c1)):c1] = 1.0  # as wide as the person
        return [a.reshape(-1)]


def test_auto_does_not_hold_what_the_selfie_model_joins_to_a_followed_person():
    p = FramePipeline(small_cfg(), Mural(128, 72), people=person_stage())
    for _ in range(3):
        r = p.process(scene(W, H, [PERSON]))
        assert not p.fusion.holding and iou(r.alpha, PERSON) > 0.9


def test_auto_falls_back_to_the_selfie_model_when_the_person_stage_fails():
    seg = FakeSegmenter(script=[None, "raise"])
    p = FramePipeline(small_cfg(), FakeModel(128, 72), people=person_stage(segmenter=seg))
    p.process(scene(W, H, [PERSON]))
    r = p.process(scene(W, H, [PERSON]))
    assert r.ok and "segmenter failed" in r.events and r.calls["selfie"] == 1
    assert iou(r.alpha, PERSON) > 0.7  # the selfie model's matte of the bright box


def test_person_mode_shows_the_frame_untouched_when_nothing_can_be_trusted():
    p = FramePipeline(small_cfg(), people=person_stage(detector=FakeDetector(script=[ERROR])))
    r = p.process(scene(W, H, [PERSON]))
    assert not r.ok and "inference failed" in r.resets and (r.alpha == 255).all()
    r = p.process(scene(W, H, [PERSON]))  # the detector works again
    assert r.ok and r.people == 1


def test_a_scene_cut_forgets_the_people():
    p = FramePipeline(small_cfg(), people=person_stage())
    p.process(scene(W, H, [PERSON]))
    assert p.people.tracks.people
    r = p.process(scene(W, H, [PERSON], fg=30, bg=220))  # everything changed
    assert "scene cut" in r.resets and r.calls["detector"] >= 1  # looked for everyone anew


def test_open_pipeline_loads_the_models_of_the_segmenter(tmp_path, logged):
    hilens.init("matting")
    try:
        make_skill_dir(tmp_path)
        om = str(tmp_path / "model" / "matting.om")
        missing = str(tmp_path / "model" / "person_detector.om")
        cfg = small_cfg(model=om, detector_model=missing,
                        segmenter_model=str(tmp_path / "model" / "person_segmenter.om"))
        assert open_pipeline(cfg.replace(segmenter="selfie")).segmenter == "selfie"
        with pytest.raises(ValueError, match="person detector %s" % missing):
            open_pipeline(cfg.replace(segmenter="person"))
        p = open_pipeline(cfg.replace(segmenter="auto"))
        assert p.segmenter == "selfie"
        lines = [m for lvl, m in logged if lvl == "error"]
        assert any("person_detector.om" in m and "selfie model alone" in m for m in lines)
        # a model of the wrong kind where the detector should be: named, with what was expected
        wrong = cfg.replace(segmenter="person", detector_model=om)
        with pytest.raises(ValueError, match="person detector .*matting.om does not fit.*"
                                             "expected image NV21 uint8 75264 bytes"):
            open_pipeline(wrong)
    finally:
        hilens.terminate()


class Blank(FakeSegmenter):
    """A FakeSegmenter whose masks are empty on the calls in `blank` (a network glitch)."""

    def __init__(self, blank, script=None):
        FakeSegmenter.__init__(self, script)
        self.blank, self.n = set(blank), 0

    def infer(self, inputs):
        out = FakeSegmenter.infer(self, inputs)
        self.n += 1
        if self.n in self.blank and isinstance(out, list):
            out[0] = np.zeros_like(out[0])
        return out


def test_the_people_matte_zeroed_over_its_last_box_is_the_whole_fills():
    # the person stage zeroes only the box the pipeline says its matte is 0 outside: over
    # people moving, a near person the selfie matte holds (the fused box), a glitch the
    # history bridges (the history's matte anywhere) and a frame the segmenter fails, the
    # frames are those of a pipeline that zeroes the whole matte every time
    def run():
        seg = Blank(range(7, 10), script=[None] * 13 + ["nan"] + [None] * 20)
        return FramePipeline(small_cfg(), FakeModel(128, 72),
                             people=person_stage(DimBlind(), seg))
    fast, whole = run(), run()
    bridged = known = 0
    for i in range(16):
        x = 240 + 25 * min(i, 3)  # walks in, then stands (a collapse there is bridged)
        frame = with_near([(x, 120, x + 60, 300)], near=10 <= i < 14)
        whole._person_dirty = None
        a, b = fast.process(frame), whole.process(frame)
        assert a.ok == b.ok and np.array_equal(a.alpha, b.alpha)
        assert np.array_equal(a.output, b.output)
        assert np.array_equal(fast.person_alpha, whole.person_alpha)
        bridged += fast.state.bridged > 0
        known += fast._person_dirty is not None
    assert bridged >= 1 and known >= 8


class SoftSegmenter(FakeSegmenter):
    """FakeSegmenter's mask at 0.7 (an unsure network), or empty while `blind`."""

    blind = False

    def infer(self, inputs):
        out = FakeSegmenter.infer(self, inputs)
        if isinstance(out, list):
            out[0] = out[0] * np.float32(0.0 if self.blind else 0.7)
        return out


def test_a_bridged_frame_shows_the_history_thresholded_as_any_other():
    # The history holds the networks' values (0.7 here) and the soft threshold makes what is
    # shown (0.7 -> 0.83). A frame whose person collapses on a still picture shows the
    # history: thresholded too, wherever the history is, not only where this frame pasted
    seg = SoftSegmenter()
    p = FramePipeline(small_cfg(), people=person_stage(segmenter=seg))
    frame = scene(W, H, [PERSON])
    inside = np.s_[150:280, 290:330]
    for _ in range(4):
        shown = p.process(frame).alpha[inside].astype(int)
    assert abs(shown.mean() - 255 * 0.5 / 0.6) < 3
    seg.blind = True
    r = p.process(frame)
    assert p.state.bridged == 1 and r.people == 0
    assert np.abs(r.alpha[inside].astype(int) - shown).max() <= 1
