"""Contact sheets of the worst frames: one row per frame, input | matte | composite, worst
first, a caption above each row. The matte has the ground truth's outline drawn on it in
red, where there is one, so a miss and a false alarm look different at a glance."""
import itertools

import cv2
import numpy as np

THUMB_WIDTH = 320
CAPTION = 18


class Worst(object):
    """The `k` frames with the largest badness, at most `per_scene` of them from one scene
    and no two of one scene within `gap` frames (the worse one stays). offer(badness,
    scene, t, make) calls make() -> (caption, input, matte, composite, gt) only for a frame
    that gets in."""

    def __init__(self, k=8, per_scene=2, gap=10):
        self.k = k
        self.per_scene = per_scene
        self.gap = gap
        self.entries = []         # [badness, seq, scene, t, row]
        self.seq = itertools.count()

    def _evict(self, badness, scene, t):
        """(enters, the entry it replaces or None)."""
        mine = [e for e in self.entries if e[2] == scene]
        close = [e for e in mine if abs(e[3] - t) < self.gap]
        if close:
            worst_close = max(close, key=lambda e: e[0])
            return (badness > worst_close[0], min(close, key=lambda e: e[0])) \
                if len(close) == 1 else (False, None)
        if len(mine) >= self.per_scene:
            weakest = min(mine, key=lambda e: e[0])
            return badness > weakest[0], weakest
        if len(self.entries) >= self.k:
            weakest = min(self.entries, key=lambda e: e[0])
            return badness > weakest[0], weakest
        return True, None

    def offer(self, badness, scene, t, make):
        if not self.k or not badness == badness or badness <= 0:
            return False
        enter, evict = self._evict(badness, scene, t)
        if not enter:
            return False
        if evict is not None:
            self.entries.remove(evict)
        self.entries.append([badness, next(self.seq), scene, t, thumbnails(*make())])
        return True

    def rows(self):
        return [e[4] for e in sorted(self.entries, key=lambda e: (-e[0], e[1]))]


def _thumb(image, width):
    h, w = image.shape[:2]
    size = (width, max(2, int(round(h * width / float(w)))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def thumbnails(caption, image, matte, composite, gt=None, width=THUMB_WIDTH):
    """One sheet row: BGR picture with the caption strip on top."""
    pic = _thumb(image, width)
    m = _thumb(cv2.cvtColor(matte, cv2.COLOR_GRAY2BGR), width)
    if gt is not None and np.any(gt):
        g = cv2.resize((np.asarray(gt) > 0).astype(np.uint8), (m.shape[1], m.shape[0]),
                       interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(g, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(m, contours, -1, (0, 0, 255), 1)
    comp = _thumb(composite, width)
    h = max(pic.shape[0], m.shape[0], comp.shape[0])
    row = np.full((h + CAPTION, 3 * width + 8, 3), 40, np.uint8)
    for i, part in enumerate((pic, m, comp)):
        x = i * (width + 4)
        row[CAPTION:CAPTION + part.shape[0], x:x + width] = part
    cv2.putText(row, caption[:110], (4, CAPTION - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                (255, 255, 255), 1, cv2.LINE_AA)
    return row


def sheet(rows, title):
    """The rows stacked under a title strip; None when there are no rows."""
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    head = np.full((24, width, 3), 20, np.uint8)
    cv2.putText(head, title[:140] + "   (input | matte, GT outline red | composite)",
                (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return np.vstack([head] + padded)
