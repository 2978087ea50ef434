"""The person photos every tool draws from, and the one train/validation split of them.

Two collections in the shared data (tools/paths.py says where): `hsd` (232 photos, mostly
busts and half bodies) and `ccp` (804 full-body street photos). Both are split the same way,
here and nowhere else: the pairs sorted by id, every 5th one (positions 4, 9, 14, ...) is
validation (hsd: 46, ccp: 160), the rest training. The training tools take `split(...)[0]`
only; the evaluation scenes (tools/evaluate/scenes.py) draw from `split(...)[1]` unless told
otherwise, so what the skill is judged on was never trained on. The split depends on nothing
but the sorted ids: the same people on every machine, and a held-out check that brings other
people gets its own split of them by the same rule.

A `Person` is one photo's person cut out with its mask (the bounding box of the mask), for
pasting into scenes; the GT of a pasted person is exact because the paste is binary.
"""
import dataclasses

import numpy as np

from tools import paths
from tools.evaluate.seg_metrics import list_pairs, read_pair

COLLECTIONS = ("hsd", "ccp")
SPLITS = ("train", "val", "all")
VAL_EVERY = 5


def collection_root(name):
    if name not in COLLECTIONS:
        raise ValueError("unknown person collection %r, expected one of %s"
                         % (name, ", ".join(COLLECTIONS)))
    return getattr(paths, name)()


def list_collection(name, root=None):
    """Sorted (id, image_path, mask_path) of a collection (images/, masks/ under its root)."""
    root = collection_root(name) if root is None else root
    return list_pairs(str(root / "images"), str(root / "masks"))


def split(pairs):
    """(train, val) of sorted pairs: every VAL_EVERY-th pair (positions 4, 9, ...) is val."""
    val = [p for i, p in enumerate(pairs) if i % VAL_EVERY == VAL_EVERY - 1]
    train = [p for i, p in enumerate(pairs) if i % VAL_EVERY != VAL_EVERY - 1]
    return train, val


def pairs_of(name, which="val", root=None):
    """The pairs of collection `name` in split `which` (train, val or all)."""
    if which not in SPLITS:
        raise ValueError("unknown split %r, expected one of %s" % (which, ", ".join(SPLITS)))
    pairs = list_collection(name, root)
    if which == "all":
        return pairs
    train, val = split(pairs)
    return train if which == "train" else val


@dataclasses.dataclass
class Person:
    name: str               # collection/id
    image: np.ndarray       # BGR uint8 crop: the mask's bounding box
    mask: np.ndarray        # bool, same size
    touches_bottom: bool    # the photo cuts the person at its bottom edge (a bust)


def usable_mask(mask, min_frac=0.05, max_frac=0.85):
    """A real person, not a speck and not the whole picture."""
    frac = np.count_nonzero(mask) / float(mask.size)
    return min_frac <= frac <= max_frac


def cut_out(name, image, mask):
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError("%s: the mask is empty, no person to cut out" % name)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Person(name, image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(),
                  bool(y1 >= mask.shape[0] - 2))


def load_people(pairs, n, rng, prefix=""):
    """n people drawn without replacement (cycling when n exceeds them) from `pairs`, skipping
    unusable masks; ValueError when none is usable."""
    order = rng.permutation(len(pairs))
    out, k = [], 0
    while len(out) < n:
        if k >= len(order) and not out:
            raise ValueError("no usable person mask (5-85%% of the photo) among %d photos"
                             % len(pairs))
        stem, image_path, mask_path = pairs[order[k % len(order)]]
        k += 1
        image, mask = read_pair(image_path, mask_path)
        if usable_mask(mask):
            out.append(cut_out(prefix + stem, image, mask))
    return out
