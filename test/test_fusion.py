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


def test_fuse_in_place_on_a_box_of_the_matte_is_numpys_maximum():
    # the pipeline fuses into a box (a strided view) of the people's matte and reads the
    # matte afterwards: the view itself must be written, with np.maximum's numbers
    rng = np.random.RandomState(3)
    people = rng.uniform(-0.1, 1.1, (216, 288)).astype(np.float32)
    selfie = rng.uniform(-0.1, 1.1, (216, 288)).astype(np.float32)
    expected = people.copy()
    box = np.s_[10:150, 33:271]
    np.maximum(selfie[box], expected[box], out=expected[box])
    fusion.fuse(selfie[box], people[box], people[box])
    assert people.tobytes() == expected.tobytes()


def test_unfollowed_is_the_selfie_matte_outside_every_followed_roi():
    selfie = np.zeros((10, 20), np.uint8)
    selfie[2:8, 1:5] = 230   # 24 pixels nobody follows
    selfie[2:8, 12:16] = 150  # 24 pixels in a followed person's ROI
    selfie[0, 19] = 100      # under 0.5: not a person
    scratch = np.empty(selfie.shape, np.uint8)
    assert fusion.unfollowed(selfie, [], scratch) == 48
    assert fusion.unfollowed(selfie, [(0.55, 0.1, 0.85, 0.9)], scratch) == 24
    assert fusion.unfollowed(selfie, [(0.55, 0.1, 0.85, 0.9), (-0.2, -0.5, 0.3, 2.0)],
                             scratch) == 0


def test_the_selfie_model_looks_with_the_detector_and_holds_what_it_adds():
    f = fusion.Fusion(0.06, 0.02)
    assert not f.use_selfie(result())                  # followed, no detector pass
    assert f.use_selfie(result(detector=1))            # the detector looks: so does the selfie
    assert not f.keep(0.0)                             # it adds nobody: left out
    assert not f.holding and not f.use_selfie(result())
    assert f.keep(0.17) and f.holding                  # someone nobody follows: 17%
    assert f.use_selfie(result())                      # held: the selfie runs on
    assert f.keep(0.013) and f.holding                 # 1.3% left: over half of selfie_hold
    assert not f.keep(0.0) and not f.holding           # gone: the hold ends
    assert not f.use_selfie(result())
    # its own turn: the whole matte, whatever it adds (the pipeline ends a hold there)
    assert f.close_up(result(people=0)) and f.close_up(result(face=0.1))
    assert f.close_up(result(ok=False)) and f.close_up(None)
    assert not f.close_up(result(face=0.05))
    off = fusion.Fusion(0.06, 0.0)  # selfie_hold 0: no second look, nothing added
    assert not off.use_selfie(result(detector=1)) and not off.keep(0.5)
    f.holding = True
    f.reset()
    assert not f.holding


def _blob(a, r0, r1, c0, c1, value=255):
    a[r0:r1, c0:c1] = value
    a[r0 - 1:r1 + 1, c0 - 1:c1 + 1][a[r0 - 1:r1 + 1, c0 - 1:c1 + 1] == 0] = 8  # a faint rim


def test_drop_followed_leaves_out_the_selfies_view_of_a_followed_person_with_its_rim():
    selfie = np.zeros((40, 60), np.uint8)
    _blob(selfie, 5, 35, 5, 20)    # the followed person, wider than the people's matte
    _blob(selfie, 5, 35, 40, 55)   # someone nobody follows
    people = np.zeros(selfie.shape, np.float32)
    people[5:35, 7:18] = 1.0       # the person stage's matte: 11 of its 15 columns
    scratch = np.empty(selfie.shape, np.uint8)
    before = selfie.copy()
    assert fusion.drop_followed(selfie, people, scratch) == 1
    assert not selfie[:, :30].any()  # the followed person's region, its rim too: gone
    np.testing.assert_array_equal(selfie[:, 30:], before[:, 30:])  # the other one kept


def test_drop_followed_keeps_a_region_that_is_mostly_someone_nobody_follows():
    selfie = np.zeros((40, 60), np.uint8)
    _blob(selfie, 5, 35, 5, 50)    # a group: one region of three people side by side
    people = np.zeros(selfie.shape, np.float32)
    people[5:35, 5:20] = 1.0       # one of them followed: a third of the region
    scratch = np.empty(selfie.shape, np.uint8)
    before = selfie.copy()
    assert fusion.drop_followed(selfie, people, scratch) == 0
    np.testing.assert_array_equal(selfie, before)
    # and nothing to do on an empty box (OpenCV's connectedComponents crashes on one)
    assert fusion.drop_followed(selfie[:0, :0], people[:0, :0], scratch[:0, :0]) == 0
    people[5:35, 5:50] = 1.0       # all three followed: the region is theirs
    assert fusion.drop_followed(selfie, people, scratch) == 1 and not selfie.any()
