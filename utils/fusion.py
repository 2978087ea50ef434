"""When the selfie model runs beside the person stage, and how the two mattes become one.

The person stage (utils.people) finds whole people at any distance; the selfie model is made
for a face within a couple of metres, where the pose detector, which needs to see the body,
may miss the person. In `segmenter: auto` the pipeline asks use_selfie() each frame and
fuse()s the two mattes when both ran.
"""
import numpy as np

CLOSEUP = 0.06  # a followed person whose face exceeds this fraction of the frame height


class Fusion(object):
    def __init__(self, closeup: float = CLOSEUP):
        self.closeup = float(closeup)

    def use_selfie(self, person) -> bool:
        """Run the selfie model this frame? `person` is the person stage's PersonResult."""
        if person is None or not person.ok or person.people == 0:
            return True
        return person.face > self.closeup


def fuse(selfie: np.ndarray, people: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The two mattes (float32, one size) as one: the maximum, so that each keeps what it
    found."""
    return np.maximum(selfie, people, out=out)
