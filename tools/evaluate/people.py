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

# hsd photos whose mask holds more than one person (couples, families, groups, people in a
# street), found by eye on contact sheets of all 232 (masked photos, ids printed). A
# several-people scene takes its members from the other photos, so that "all found" counts
# people: a group photo scored as one member asks one track to cover two to five people.
# ccp needs no list: Clothing Co-Parsing labels one person a photo (others are background).
GROUP_PHOTOS = {
    "hsd": frozenset(
        "008 012 013 017 018 019 021 023 028 039 061 088 089 091 092 093 094 107 193 194 "
        "196 201 202 206 207 209 213 214 216 219 221 223 224 227 229 234 236 237 238 239 "
        "241 242 243 244 246 247 248 249 251 252 253 254 256 258 263 266 267 268 272 273 "
        "276 277 289".split()),
    "ccp": frozenset(),
}
# hsd photos of no person: 156 is a mannequin's head (with sunglasses); 234 (two mannequins)
# is in GROUP_PHOTOS already. Several-people scenes leave them out too.
NOT_PEOPLE = {"hsd": frozenset(["156"]), "ccp": frozenset()}


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


def pairs_of(name, which="val", root=None, one_person=False):
    """The pairs of collection `name` in split `which` (train, val or all); with `one_person`
    without the photos of GROUP_PHOTOS and NOT_PEOPLE (the split is made first, so a photo
    never changes side)."""
    if which not in SPLITS:
        raise ValueError("unknown split %r, expected one of %s" % (which, ", ".join(SPLITS)))
    pairs = list_collection(name, root)
    if which != "all":
        train, val = split(pairs)
        pairs = train if which == "train" else val
    if one_person:
        pairs = [p for p in pairs if p[0] not in GROUP_PHOTOS[name] | NOT_PEOPLE[name]]
    return pairs


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
