"""utils/fusion.py: when segmenter auto runs the selfie model, and the fused matte."""
import numpy as np

from utils import fusion
from utils.people import PersonResult


def result(people=1, face=0.03, ok=True, detector=0, rois=()):
    return PersonResult(ok, people, face, {"detector": detector}, {}, (), (0, 0, 0, 0), rois)


def test_the_selfie_model_runs_for_nobody_a_failure_or_a_close_face():
    f = fusion.Fusion(0.06, 0.0)
    assert f.use_selfie(result(people=0))              # nobody found: the selfie's turn
    assert f.use_selfie(result(ok=False))              # the person stage failed
    assert f.use_selfie(result(face=0.08))             # a face over 6% of the height
    assert not f.use_selfie(result(face=0.05))         # a person at a distance
    assert not fusion.Fusion(0.2).use_selfie(result(face=0.08))
    assert f.use_selfie(None)


def test_fuse_keeps_what_each_found():
    selfie = np.array([[0.9, 0.0], [0.2, 0.5]], np.float32)
    people = np.array([[0.1, 0.8], [0.0, 0.5]], np.float32)
    out = np.empty_like(selfie)
    assert fusion.fuse(selfie, people, out) is out
    np.testing.assert_array_equal(out, np.array([[0.9, 0.8], [0.2, 0.5]], np.float32))


def test_unfollowed_is_the_selfie_matte_outside_every_followed_roi():
    alpha = np.zeros((10, 20), np.float32)
    alpha[2:8, 1:5] = 0.9   # 24 pixels nobody follows
    alpha[2:8, 12:16] = 0.6  # 24 pixels of a followed person
    alpha[0, 19] = 0.4      # under 0.5: not a person
    scratch = np.empty(alpha.shape, np.uint8)
    assert fusion.unfollowed(alpha, [], scratch) == 48 / 200.0
    assert fusion.unfollowed(alpha, [(0.55, 0.1, 0.85, 0.9)], scratch) == 24 / 200.0
    assert fusion.unfollowed(alpha, [(0.55, 0.1, 0.85, 0.9), (-0.2, -0.5, 0.3, 2.0)],
                             scratch) == 0.0


def test_the_selfie_model_looks_with_the_detector_and_holds_what_nobody_follows():
    f = fusion.Fusion(0.06, 0.02)
    assert not f.use_selfie(result())                  # followed, no detector pass
    assert f.use_selfie(result(detector=1))            # the detector looks: so does the selfie
    alpha = np.zeros((72, 128), np.float32)
    alpha[10:60, 80:110] = 1.0  # the followed person
    roi = (0.55, 0.0, 0.95, 1.0)
    assert not f.keep(alpha, result(detector=1, rois=(roi,)))  # nobody else: left out
    assert not f.holding and not f.use_selfie(result())
    alpha[20:72, 0:30] = 1.0  # someone near the camera that nobody follows: 17% of the frame
    assert f.keep(alpha, result(detector=1, rois=(roi,))) and f.holding
    assert f.use_selfie(result())                      # held: the selfie runs on
    alpha[20:72, 0:30] = 0.0
    alpha[60:72, 0:10] = 1.0  # 1.3% left: over half of selfie_hold, still held
    assert f.keep(alpha, result(rois=(roi,))) and f.holding
    alpha[60:72, 0:10] = 0.0
    assert not f.keep(alpha, result(rois=(roi,))) and not f.holding  # gone: the hold ends
    assert f.keep(alpha, result(people=0)) and f.keep(alpha, result(face=0.1))  # its own turn
    off = fusion.Fusion(0.06, 0.0)  # selfie_hold 0: no second look
    assert not off.use_selfie(result(detector=1))
    f.holding = True
    f.reset()
    assert not f.holding
