"""utils/people.py, the person stage, on deterministic fake networks (test/people_fakes.py)
through the simulator's Preprocessor: who is found, followed, dropped, merged, and what a
failing model or a refused crop does."""
import numpy as np
import pytest

import hilens
from utils import people as ppl
from utils import person_roi as pr

from people_fakes import ERROR, FakeDetector, FakeSegmenter, scene
from test_person_crop import Refusing

W, H = 640, 360
CANVAS = (H // 2, W // 2)
PERSON = (280, 120, 340, 300)       # 60 x 180: a standing person in the middle
LEFT, RIGHT = (100, 140, 150, 300), (480, 140, 530, 300)


def stage(detector=None, segmenter=None, pre=True, **kw):
    det = detector or FakeDetector()
    seg = segmenter or FakeSegmenter()
    return ppl.People(det, seg, hilens.Preprocessor() if pre else None, **kw), det, seg


def run(p, boxes, w=W, h=H):
    canvas = np.zeros(CANVAS if (w, h) == (W, H) else (h // 2, w // 2), np.float32)
    return p.run(scene(w, h, boxes), canvas), canvas


def box_iou_canvas(canvas, *boxes, scale=0.5):
    """IoU of the canvas's matte with the union of the boxes (frame pixels)."""
    gt = np.zeros(canvas.shape, bool)
    for box in boxes:
        x0, y0, x1, y1 = (int(v * scale) for v in box)
        gt[y0:y1, x0:x1] = True
    m = canvas > 0.5
    return (m & gt).sum() / float((m | gt).sum())


def test_a_person_is_found_segmented_and_pasted_where_they_are():
    p, det, seg = stage()
    r, canvas = run(p, [PERSON])
    assert r.ok and r.people == 1 and r.calls == {"detector": 4, "segmenter": 1}
    assert r.ms["segmenter"] >= 0 and r.events == ()
    assert box_iou_canvas(canvas, PERSON) > 0.9
    t = p.tracks.people[0]
    assert t.nose[0] == pytest.approx(310 / W, abs=0.02)  # landmark 0 came back to the frame
    assert t.face > 0  # the face's extent, in frame heights
    assert 0.0 < r.face < 0.05


def test_the_tracker_follows_and_the_detector_only_looks_for_newcomers():
    p, det, seg = stage(detect_interval=10)
    calls = []
    for i in range(16):
        x = 200 + 8 * i  # walking right
        r, canvas = run(p, [(x, 120, x + 60, 300)])
        assert r.people == 1 and box_iou_canvas(canvas, (x, 120, x + 60, 300)) > 0.8, i
        calls.append(r.calls["detector"])
    # frame 0: the whole frame, and as it found someone the three other views; then only
    # every detect_interval frames while fewer than max_people are followed
    assert calls == [4] + [0] * 9 + [1] + [0] * 5
    assert len(p.tracks.people) == 1 and p.tracks.people[0].age == 16


def test_nobody_keeps_the_detector_looking_on_every_view_in_turn():
    p, det, seg = stage()
    calls = []
    for _ in range(5):
        r, canvas = run(p, [])
        assert r.ok and r.people == 0 and r.calls["segmenter"] == 0
        assert canvas.max() == 0
        calls.append(r.calls["detector"])
    # the first frame: every view; then one a frame, the turn going on after the first
    assert calls == [4, 1, 1, 1, 1]
    # views: the whole frame (letterboxed: black bands) and three squares
    bands = [(y[:10] == 16).all() for y in det.inputs]
    assert bands == [True, False, False, False] + [False, False, False, True]


def test_the_first_frame_and_a_scene_cut_look_at_every_view():
    # A person at the right edge and small: the square views see them, the whole frame's
    # turn comes first; they are found on the first frame, and again just after a reset.
    far = (600, 250, 606, 270)
    p, det, seg = stage()
    r, _ = run(p, [far])
    assert r.people == 1 and r.calls["detector"] == 4
    run(p, [far])
    p.reset()
    r, _ = run(p, [far])
    assert r.people == 1 and r.calls["detector"] == 4
    # a first pass whose call fails does not count: the next frame's is the first
    p2, _, _ = stage(detector=FakeDetector(script=[ERROR]))
    r, _ = run(p2, [])
    assert r.calls["detector"] == 1 and p2.tracks.fresh
    r, _ = run(p2, [])
    assert r.calls["detector"] == 4 and not p2.tracks.fresh


def test_a_person_who_leaves_is_dropped_and_looked_for_again_at_once():
    p, det, seg = stage()
    run(p, [PERSON])
    r, canvas = run(p, [])
    # the segmenter saw nobody: dropped, and the detector looked again in the same frame, on
    # every view (the lost person is wherever they went, not in the view whose turn it is)
    assert r.people == 0 and r.calls["segmenter"] == 1 and r.calls["detector"] == 4
    assert p.tracks.people == [] and canvas.max() == 0 and r.ok


def test_side_by_side_people_are_two_and_max_people_caps_them():
    p, det, seg = stage()
    r, canvas = run(p, [LEFT, PERSON, RIGHT])
    assert r.people == 3 and box_iou_canvas(canvas, LEFT, PERSON, RIGHT) > 0.9
    # the canvas is 0 outside the box the result gives (the caller thresholds only that)
    x0, y0, x1, y1 = r.box
    outside = np.ones(canvas.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert canvas[y0:y1, x0:x1].max() > 0.5 and not canvas[outside].any()
    assert run(stage()[0], [])[0].box == (0, 0, 0, 0)
    p2, _, _ = stage(max_people=2)
    r2, _ = run(p2, [LEFT, PERSON, RIGHT])
    assert r2.people == 2 and len(p2.tracks.people) == 2
    # the next views find the same people again: nobody is added twice
    for _ in range(4):
        r, _ = run(p, [LEFT, PERSON, RIGHT])
    assert len(p.tracks.people) == 3 and r.people == 3


def test_a_detection_is_the_followed_person_whose_nose_it_holds():
    t = ppl.Track(0, pr.Roi(0.5, 0.5, 0.2, 0.3))
    assert t.is_detection((0.4, 0.4, 0.6, 0.6)) is False  # no nose, no box: a new person
    t.box = (0.45, 0.2, 0.55, 0.3)
    assert t.is_detection((0.46, 0.21, 0.56, 0.31)) and not t.is_detection((0.6, 0.2, 0.7, 0.3))
    t.nose = (0.5, 0.25)
    assert t.is_detection((0.45, 0.2, 0.55, 0.3)) and not t.is_detection((0.56, 0.2, 0.66, 0.3))


def test_two_tracks_on_one_person_become_the_older_one():
    tracks = ppl.Tracks()
    a = tracks.add(pr.Roi(0.5, 0.5, 0.3, 0.5), 0.9)
    b = tracks.add(pr.Roi(0.51, 0.5, 0.3, 0.5), 0.9)
    c = tracks.add(pr.Roi(0.62, 0.5, 0.3, 0.5), 0.9)  # a neighbour: ROIs overlap, heads not
    a.nose, b.nose, c.nose = (0.5, 0.3), (0.505, 0.3), (0.62, 0.3)
    assert tracks.merge(W, H) == 1 and tracks.people == [a, c]


def test_presence_a_newcomer_needs_and_the_one_a_followed_person_keeps():
    # a newcomer at presence 0.3 is not followed (track_presence 0.5)
    p, det, seg = stage(segmenter=FakeSegmenter(presence=0.3))
    r, canvas = run(p, [PERSON])
    assert r.people == 0 and p.tracks.people == [] and canvas.max() == 0
    # followed at 1.0, then 0.3: unsure, kept, pasted, and the detector checks in the same
    # frame; then 0.05: dropped
    seg = FakeSegmenter(presence=[1.0, 1.0, 0.3, 0.05])
    p, det, _ = stage(segmenter=seg, detect_interval=100)
    for _ in range(2):
        assert run(p, [PERSON])[0].people == 1
    before = det.calls
    r, canvas = run(p, [PERSON])
    assert r.people == 1 and box_iou_canvas(canvas, PERSON) > 0.8
    assert det.calls == before + 1
    first = p.tracks.people[0]
    r, canvas = run(p, [PERSON])  # 0.05: dropped; found again by the detector at once
    assert seg.presence == [] and r.calls["segmenter"] == 2 and r.people == 1
    assert p.tracks.people[0] is not first and p.tracks.people[0].age == 1


def test_an_unsure_track_takes_the_roi_of_a_sure_detection():
    p, det, seg = stage(segmenter=FakeSegmenter(presence=[1.0, 0.3]), detect_interval=100)
    run(p, [PERSON])
    t = p.tracks.people[0]
    t.roi = t.roi._replace(x_center=t.roi.x_center + 0.02)  # drifted off the person
    drifted = t.roi
    for _ in range(4):
        run(p, [PERSON])
    assert t.roi != drifted and t.roi.x_center == pytest.approx(310 / W, abs=0.01)


def test_an_unsure_person_does_not_move_the_roi():
    # Behind an obstacle only the head shows and the segmenter is unsure (0.3): its
    # landmarks would shrink the ROI onto the head; it stays until a sure frame.
    seg = FakeSegmenter(presence=[1.0, 0.3, 1.0])
    det = FakeDetector(script=[None] * 4 + [ERROR])  # no re-anchoring detection either
    p, _, _ = stage(detector=det, segmenter=seg, detect_interval=100)
    run(p, [PERSON])
    t = p.tracks.people[0]
    roi, nose = t.roi, t.nose
    head = (PERSON[0], PERSON[1], PERSON[2], PERSON[1] + 30)
    r, canvas = run(p, [head])
    assert r.people == 1 and t.unsure == 1 and t.roi == roi and t.nose == nose
    r, canvas = run(p, [PERSON])  # sure again: the landmarks lead
    assert t.unsure == 0 and box_iou_canvas(canvas, PERSON) > 0.8


def test_a_failing_detector_is_retried_and_says_so(logged):
    p, det, seg = stage(detector=FakeDetector(script=[ERROR, "raise", "short"]))
    for _ in range(3):
        r, canvas = run(p, [PERSON])
        assert not r.ok and r.people == 0 and "detector failed" in r.events
    r, canvas = run(p, [PERSON])
    assert r.ok and r.people == 1
    errors = [m for lvl, m in logged if lvl == "error"]
    assert errors and all("person detector" in m for m in errors)
    assert any("expected" in m or "sent" in m for m in errors)


def test_a_failing_segmenter_keeps_the_track_for_three_frames(logged):
    seg = FakeSegmenter(script=[None, "nan", "raise", "short", None])
    p, det, _ = stage(segmenter=seg, detect_interval=100)
    assert run(p, [PERSON])[0].people == 1
    roi = p.tracks.people[0].roi
    for failures in (1, 2):
        r, canvas = run(p, [PERSON])
        assert not r.ok and "segmenter failed" in r.events and canvas.max() == 0
        assert p.tracks.people[0].roi == roi and p.tracks.people[0].failures == failures
    first = p.tracks.people[0]
    r, canvas = run(p, [PERSON])  # the third failure in a row: given up, and found again
    assert not r.ok and p.tracks.people[0] is not first and p.tracks.people[0].age == 1
    assert any("person segmenter" in m for lvl, m in logged if lvl == "error")


def test_a_crop_the_hardware_refuses_is_made_by_opencv_and_counted(logged):
    p = ppl.People(FakeDetector(), FakeSegmenter(), Refusing())
    r, canvas = run(p, [PERSON])
    # the four detector views and the person's crop
    assert r.ok and r.people == 1 and r.events.count("crop refused") == 5
    assert box_iou_canvas(canvas, PERSON) > 0.9
    warnings = [m for lvl, m in logged if lvl == "warning" and "refused" in m]
    assert len(warnings) == 1  # once a minute, not once a call
    run(p, [PERSON])
    assert len([m for lvl, m in logged if "refused" in m]) == 1


def test_a_scene_cut_forgets_everyone():
    p, _, _ = stage()
    run(p, [PERSON])
    p.reset()
    assert p.tracks.people == [] and p.tracks.detector_due(10, 3)


def test_open_people_probes_each_model_and_names_a_wrong_one():
    cfg = type("Cfg", (), dict(detector_model="model/d.om", segmenter_model="model/s.om",
                               max_people=2, detect_interval=5, detect_score=0.6,
                               track_presence=0.5, keep_presence=0.2, threshold=True,
                               threshold_low=0.25))()
    models = {"model/d.om": FakeDetector(), "model/s.om": FakeSegmenter()}
    p = ppl.open_people(cfg, lambda path, what: models[path], None)
    assert p.paste_floor == 0.25  # the pipeline thresholds the canvas there
    assert p.max_people == 2 and p.detect_score == 0.6 and p.keep_presence == 0.2
    assert models["model/d.om"].calls == 1 and models["model/s.om"].calls == 1
    models["model/s.om"] = FakeSegmenter(script=["short"])
    with pytest.raises(ValueError, match=r"person segmenter model/s.om does not fit.*"
                                         r"expected image NV21 uint8 98304 bytes"):
        ppl.open_people(cfg, lambda path, what: models[path], None)
    models["model/d.om"] = FakeDetector(script=[ERROR])
    with pytest.raises(ValueError, match=r"person detector model/d.om.*error code 17"):
        ppl.open_people(cfg, lambda path, what: models[path], None)


def test_a_person_unsure_for_too_long_is_dropped():
    seg = FakeSegmenter(presence=[1.0] + [0.3] * (ppl.MAX_UNSURE + 5))
    p, det, _ = stage(segmenter=seg, detect_interval=1000)
    kept = 0
    for _ in range(1 + ppl.MAX_UNSURE + 1):
        r, _ = run(p, [PERSON])
        kept += r.people
    assert kept == 1 + ppl.MAX_UNSURE and p.tracks.people == []


class _FaceOffMask(FakeSegmenter):
    """Sees the person, but its mask leaves out the top fifth of the blob, where the face
    landmarks are: landmarks and mask disagree (a face in the streaks of a border)."""

    def infer(self, inputs):
        out = FakeSegmenter.infer(self, inputs)
        if isinstance(out, list):
            alpha = out[0].reshape(256, 256)
            rows = np.nonzero(alpha.any(axis=1))[0]
            if len(rows):
                alpha[rows[0]:rows[0] + (rows[-1] - rows[0]) // 5] = 0.0
        return out


def test_a_face_off_its_own_mask_is_nobody():
    p, _, _ = stage(segmenter=_FaceOffMask())
    r, canvas = run(p, [PERSON])
    assert r.people == 0 and not p.tracks.people and canvas.max() == 0.0
    p, _, _ = stage()  # the same person, face on the mask: followed
    r, canvas = run(p, [PERSON])
    assert r.people == 1


def test_face_on_mask_checks_only_a_face_in_the_frame():
    mask = np.zeros((256, 256), np.float32)
    mask[100:200, 100:200] = 1.0
    face = np.array([[150.0 + k, 120.0] for k in range(11)])
    inside = face + 1000.0  # frame pixels: where they are in a 2000 x 2000 frame
    assert ppl.face_on_mask(face, inside, mask, 2000, 2000)
    off = face - [0.0, 60.0]  # above the mask
    assert not ppl.face_on_mask(off, inside, mask, 2000, 2000)
    # the same face, above the frame's top edge: nothing to check (a bust cut at the top)
    assert ppl.face_on_mask(off, inside - [0.0, 1200.0], mask, 2000, 2000)


def test_a_square_view_takes_only_bodies_that_fit_it():
    from utils import person_crop as pc
    views = pc.detector_views(W, H)
    left = views[1]
    kp = np.zeros((2, 4, 2), np.float32)
    kp[0, 0], kp[0, 1] = (0.5, 0.6), (0.5, 0.3)  # half-side 0.3 of the view: fits
    kp[1, 0], kp[1, 1] = (0.9, 0.95), (0.1, 0.6)  # a body across and below the view
    assert pc.fits_view(kp, left, pr.ROI_SCALE).tolist() == [True, False]


def test_a_person_standing_still_keeps_the_same_crop_and_a_walker_is_followed():
    p, _, seg = stage(detect_interval=100)
    run(p, [PERSON])
    t = p.tracks.people[0]
    roi = t.roi
    for dx in (1, -1, 2, 0, -2):  # a pixel or two of jitter
        x0, y0, x1, y1 = PERSON
        run(p, [(x0 + dx, y0, x1 + dx, y1)])
        assert t.roi is roi
    xs = []
    for i in range(1, 6):  # walking 12 px a frame: beyond the dead band, followed each frame
        x0, y0, x1, y1 = PERSON
        r, canvas = run(p, [(x0 + 12 * i, y0, x1 + 12 * i, y1)])
        xs.append(t.roi.x_center * W)
        assert box_iou_canvas(canvas, (x0 + 12 * i, y0, x1 + 12 * i, y1)) > 0.8
    assert all(b > a for a, b in zip(xs, xs[1:]))
    assert xs[-1] == pytest.approx(310 + 60, abs=8)


def test_settle_holds_a_roi_within_its_dead_band():
    a = pr.Roi(0.5, 0.5, 0.3, 0.5, 0.0)  # 192 px side in a 640 x 384 frame
    w, h = 640, 384
    assert pr.settle(a, a._replace(x_center=0.5 + 2 / 640.0), w, h) is a
    assert pr.settle(a, a._replace(width=0.305, height=0.305 * 640 / 384), w, h) is a
    moved = a._replace(x_center=0.5 + 4 / 640.0)  # 4 px > 1.5% of 192
    assert pr.settle(a, moved, w, h) is moved
    grown = a._replace(width=0.31, height=0.31 * 640 / 384)
    assert pr.settle(a, grown, w, h) is grown
    turned = a._replace(rotation=0.04)
    assert pr.settle(a, turned, w, h) is turned
    # crossing the frame's left or right edge the ROI follows the landmarks: someone leaving
    edge = a._replace(x_center=0.1)
    near = edge._replace(x_center=0.1 + 2 / 640.0)
    assert pr.settle(edge, near, w, h) is near


def test_a_body_larger_than_its_square_view_must_be_sure_to_be_followed():
    stats = {"calls": {"detector": 0, "segmenter": 0}, "ms": {"detector": 0.0, "segmenter": 0.0},
             "events": []}
    person = (60, 120, 120, 300)  # body ROI 1.25 x 180 = 225 px; the squares are 360 px
    fits = {}
    for reach in (1.0, 4.0):  # 4: the detector guesses a body 4 x 225 = 900 px > 2 x 360
        p, _, _ = stage(detector=FakeDetector(reach=reach))
        for view in (0, 1):
            p.tracks.view = view
            dets, fit, _ = p._detect(scene(W, H, [person]), W, H, stats)
            fits[reach, view] = fit.tolist()
    assert fits == {(1.0, 0): [True], (1.0, 1): [True], (4.0, 0): [True], (4.0, 1): [False]}
    # the square view's guess is followed only from presence GUESS_PRESENCE (0.9) up
    for presence, followed in ((0.7, 0), (0.95, 1)):
        p, _, _ = stage(detector=FakeDetector(reach=4.0),
                        segmenter=FakeSegmenter(presence=presence))
        p.tracks.view, p.tracks.fresh = 1, False  # the left square's turn
        r, _ = run(p, [person])
        assert r.people == followed, presence
    p, _, _ = stage(detector=FakeDetector(reach=4.0), segmenter=FakeSegmenter(presence=0.7))
    p.tracks.fresh = False  # the whole frame's turn: its detection needs only 0.5
    r, _ = run(p, [person])
    assert r.people == 1


def test_a_low_score_is_followed_only_as_a_face_filling_the_frame():
    """A detection scoring between CLOSE_SCORE and detect_score, decoded only while nobody
    is followed and the view has nothing better, becomes a track when the segmenter is
    present at CLOSE_PRESENCE and its face spans CLOSE_FACE of the frame height."""
    near = (120, 0, 520, 360)  # a head and shoulders that fill the frame
    low = float(np.log(0.45 / 0.55))  # score 0.45: under detect_score 0.5, over 0.4
    stats = {"calls": {"detector": 0, "segmenter": 0}, "ms": {"detector": 0.0, "segmenter": 0.0},
             "events": []}
    assert ppl.CLOSE_SCORE < 0.45 < 0.5
    faces = {}
    for span, presence, followed in ((120, 0.85, 1), (6, 0.85, 0), (120, 0.7, 0)):
        p, _, _ = stage(detector=FakeDetector(score=low),
                        segmenter=FakeSegmenter(presence=presence, face_span=span))
        r, canvas = run(p, [near])
        assert r.people == followed, (span, presence)
        faces[span] = max([t.face for t in p.tracks.people] or [0.0])
        if followed:
            assert r.face >= ppl.CLOSE_FACE and canvas.mean() > 0.5
            r, _ = run(p, [near])  # followed from then on, as anyone
            assert r.people == 1 and r.calls["detector"] == 0
    # one that is not a close face leaves no trace: not followed, the detector not sent to
    # look again nor at the other views
    p, _, _ = stage(detector=FakeDetector(score=low), segmenter=FakeSegmenter(presence=0.85))
    p.tracks.fresh = False
    r, _ = run(p, [near])
    assert r.people == 0 and r.calls == {"detector": 1, "segmenter": 1}
    assert not p.tracks.people and not p.tracks.detect_next
    # a sure detection of the same person in a later view takes its place before the
    # segmenter has seen it (the low score's ROI is not the one to crop)
    p, det, _ = stage(detector=FakeDetector(score=low))
    p.tracks.fresh = False
    first = p._find_once(scene(W, H, [near]), W, H, stats)
    assert [t.close for t in first] == [True]
    det.logit = 4.0
    p.tracks.view = 0
    second = p._find_once(scene(W, H, [near]), W, H, stats)
    assert [t.close for t in second] == [False] and p.tracks.people == second
    # the same detection scoring 0.5 or more needs neither
    p, _, _ = stage(segmenter=FakeSegmenter(presence=0.7))
    assert run(p, [near])[0].people == 1
    # with someone followed, a view's low scores are not decoded at all
    p, _, _ = stage(detector=FakeDetector(score=low))
    dets, _, close = p._detect(scene(W, H, [near]), W, H, stats)
    assert len(dets.scores) == 1 and close is True
    p.tracks.add(pr.Roi(0.9, 0.5, 0.1, 0.2, 0.0), 0.9)
    p.tracks.view = 0
    dets, _, close = p._detect(scene(W, H, [near]), W, H, stats)
    assert len(dets.scores) == 0


class _ScaledAlpha(FakeSegmenter):
    """FakeSegmenter whose alpha is multiplied by `scale` (huge finite), or with one value
    `scale` when that is not finite."""

    def __init__(self, scale):
        FakeSegmenter.__init__(self)
        self.scale = np.float32(scale)

    def infer(self, inputs):
        out = FakeSegmenter.infer(self, inputs)
        if isinstance(out, list):
            if np.isfinite(self.scale):
                out[0] = out[0] * self.scale
            else:
                out[0][1000] = self.scale
        return out


def test_only_values_that_are_not_finite_fail_the_segmenter():
    # the check sums the mask first: values whose float32 sum would overflow (3e38 each)
    # are finite, one -inf is not
    r, _ = run(stage(segmenter=_ScaledAlpha(3e38))[0], [PERSON])
    assert r.ok and r.people == 1 and "segmenter failed" not in r.events
    r, canvas = run(stage(segmenter=_ScaledAlpha(-np.inf))[0], [PERSON])
    assert not r.ok and "segmenter failed" in r.events and canvas.max() == 0
