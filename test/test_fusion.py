"""utils/fusion.py: when segmenter auto runs the selfie model, and the fused matte."""
import numpy as np

from utils import fusion
from utils.people import PersonResult


def result(people=1, face=0.03, ok=True):
    return PersonResult(ok, people, face, {}, {}, ())


def test_the_selfie_model_runs_for_nobody_a_failure_or_a_close_face():
    f = fusion.Fusion(0.06)
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
