"""Alpha compositing directly in NV21, in uint8, with OpenCV primitives.

out = fg * a/255 + bg * (255 - a)/255, done as two rounded uint8 multiplies and a
saturating add (each rounding is at most half a level, so the result is within 1 level of
the float formula). Y uses the full-size alpha; the interleaved VU plane uses the half-size
alpha with each value repeated for its V,U pair, so chroma is blended per chroma sample.
"""
from typing import Optional

import cv2
import numpy as np

from utils import nv21
from utils.upsample import difference, union

_INV255 = 1.0 / 255.0


def chroma_alpha(alpha, half, out):
    """Full-size alpha (H, W) -> alpha for the VU plane (H/2, W): each 2x2 block averaged,
    then repeated for the V and U byte of its pair. `half` is an (H/2, W/2) scratch."""
    h, w = alpha.shape
    # INTER_AREA at exactly 1/2 is the mean of each 2x2 block.
    cv2.resize(alpha, (w // 2, h // 2), dst=half, interpolation=cv2.INTER_AREA)
    return repeat_pairs(half, out)


def repeat_pairs(half, out, box=None):
    """(H/2, W/2) -> (H/2, W) with each value twice, for the V and U byte of its pair.
    A 2-channel merge writes the pairs directly (a third of the cost of a nearest resize).
    `box` (x0, y0, x1, y1) of the full-size frame, even: only the pairs in it are written
    (the rest of out is left as it was)."""
    h2, w2 = half.shape
    if not out.flags.c_contiguous:  # a reshape would copy: write through a resize instead
        return cv2.resize(half, (2 * w2, h2), dst=out, interpolation=cv2.INTER_NEAREST)
    pairs = out.reshape(h2, w2, 2)
    if box is not None:
        x0, y0, x1, y1 = (v // 2 for v in box)
        half, pairs = half[y0:y1, x0:x1], pairs[y0:y1, x0:x1]
    cv2.merge([half, half], dst=pairs)
    return out


def blend(fg, bg, a, inv, out, tmp):
    """out = fg*a/255 + bg*inv/255 (inv = 255 - a), all uint8 arrays of one shape."""
    cv2.multiply(fg, a, dst=out, scale=_INV255)
    cv2.multiply(bg, inv, dst=tmp, scale=_INV255)
    cv2.add(out, tmp, dst=out)
    return out


class Compositor(object):
    """Blends an NV21 frame over an NV21 background; scratch buffers are kept per size.

    With a still background (`still_bg`: the same picture in the same array on every
    call) the output buffer of the last call already holds the background outside the box
    that call blended: only what that box covered and this one does not is copied back
    (the background of the whole frame but the person's box was copied on every frame:
    half a frame of reads and writes at 1280x720)."""

    def __init__(self):
        self.size = None
        self.kept = None  # (out, bg, box, out's shape): out is bg outside box

    def forget(self) -> None:
        """The output buffer was written by someone else: copy the background again."""
        self.kept = None

    def _setup(self, w, h):
        self.size = (w, h)
        self.inv = np.empty((h, w), np.uint8)
        self.tmp = np.empty((h, w), np.uint8)
        self.half = np.empty((h // 2, w // 2), np.uint8)
        self.alpha_vu = np.empty((h // 2, w), np.uint8)

    def run(self, frame: np.ndarray, bg: np.ndarray, alpha: np.ndarray, out: np.ndarray,
            alpha_half: Optional[np.ndarray] = None, box=None,
            still_bg: bool = False) -> np.ndarray:
        """frame, bg, out: NV21 of one size; alpha: uint8 (H, W); alpha_half: the alpha of
        each 2x2 block (H/2, W/2) if the caller has it already. `box` (x0, y0, x1, y1),
        even: where alpha and alpha_half may be non-zero, if the caller knows (scanning
        the alpha for it costs a quarter of the blend); None: found here. `still_bg`: bg
        is the array of the last call, unchanged, and nobody else wrote into out since
        (see the class doc). Returns out."""
        w, h = nv21.nv21_size(frame)
        if nv21.nv21_size(bg, "background") != (w, h) or out.shape != frame.shape:
            raise ValueError("background/output must be %dx%d like the frame" % (w, h))
        if alpha.shape != (h, w) or alpha.dtype != np.uint8:
            raise ValueError("alpha must be uint8 of shape %s, got %s %s"
                             % ((h, w), alpha.dtype, alpha.shape))
        if self.size != (w, h):
            self._setup(w, h)
        if alpha_half is None:
            a_vu = chroma_alpha(alpha, self.half, self.alpha_vu)
        else:
            if alpha_half.shape != (h // 2, w // 2):
                raise ValueError("alpha_half must be %s, got %s" % ((h // 2, w // 2),
                                                                    alpha_half.shape))
            a_vu = None  # (made below, for the blended box only)
        (frame_y, frame_vu), (bg_y, bg_vu) = nv21.planes(frame), nv21.planes(bg)
        out_y, out_vu = nv21.planes(out)
        # Outside the box of the non-zero alpha (both resolutions) the output is the
        # background, exactly: copied, not blended (a person in a third of the frame: a
        # third of the multiplies)
        x0, y0, x1, y1 = alpha_box(alpha, alpha_half) if box is None else box
        # the very arrays of the last call (kept, so no other array can take their memory;
        # `is` costs nothing where __array_interface__ built a dict per array)
        last = self.kept[2] if still_bg and self.kept is not None and \
            self.kept[0] is out and self.kept[1] is bg and out.shape == self.kept[3] else None
        self.kept = (out, bg, (x0, y0, x1, y1) if x1 > x0 else (0, 0, 0, 0), out.shape) \
            if still_bg else None
        if last is None:
            if x1 <= x0:
                np.copyto(out, bg)
                return out
            copy_difference(bg_y, out_y, (x0, y0, x1, y1))
            copy_difference(bg_vu, out_vu, (x0, y0 // 2, x1, y1 // 2))
        else:
            lx0, ly0, lx1, ly1 = last
            copy_difference(bg_y, out_y, (x0, y0, x1, y1), (lx0, ly0, lx1, ly1))
            copy_difference(bg_vu, out_vu, (x0, y0 // 2, x1, y1 // 2),
                            (lx0, ly0 // 2, lx1, ly1 // 2))
            if x1 <= x0:
                return out
        if a_vu is None:
            a_vu = repeat_pairs(alpha_half, self.alpha_vu, (x0, y0, x1, y1))
        box = np.s_[y0:y1, x0:x1]
        box_vu = np.s_[y0 // 2:y1 // 2, x0:x1]
        inv = self.inv[box]
        cv2.bitwise_not(alpha[box], dst=inv)
        blend(frame_y[box], bg_y[box], alpha[box], inv, out_y[box], self.tmp[box])
        inv_vu = self.inv[box_vu]
        cv2.bitwise_not(a_vu[box_vu], dst=inv_vu)
        blend(frame_vu[box_vu], bg_vu[box_vu], a_vu[box_vu], inv_vu, out_vu[box_vu],
              self.tmp[box_vu])
        return out


def alpha_box(alpha: np.ndarray, alpha_half: Optional[np.ndarray] = None):
    """(x0, y0, x1, y1), even, of the pixels where alpha (H, W) or alpha_half (H/2, W/2)
    is not 0; (0, 0, 0, 0) when there are none."""
    box = (0, 0, 0, 0)
    x, y, w, h = cv2.boundingRect(alpha)
    if w:
        box = (x - x % 2, y - y % 2, x + w + (x + w) % 2, y + h + (y + h) % 2)
    if alpha_half is not None:
        x, y, w, h = cv2.boundingRect(alpha_half)
        if w:
            box = union(box, (2 * x, 2 * y, 2 * (x + w), 2 * (y + h)))
    return box


def copy_difference(src: np.ndarray, dst: np.ndarray, keep, region=None) -> None:
    """dst = src over box `region` (x0, y0, x1, y1; None: all of it) but not in box `keep`
    (which may be empty)."""
    for part in difference(region or (0, 0, src.shape[1], src.shape[0]), keep):
        dst[part] = src[part]


def matte(alpha: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The alpha itself as an NV21 picture (Y = alpha, neutral chroma) for keyers."""
    y, vu = nv21.planes(out, "output")
    np.copyto(y, alpha)
    vu[:] = nv21.NEUTRAL_UV
    return out


class SideBySide(object):
    """input | result in one frame of the output size: each half scaled to half the width,
    centred vertically on black, so the display size stays that of the stream. The halves
    are scaled straight into the output; the black bands are painted once per buffer."""

    def __init__(self):
        self.key = None

    def run(self, left: np.ndarray, right: np.ndarray, out: np.ndarray) -> np.ndarray:
        w, h = nv21.nv21_size(out, "output")
        hw = (w // 2) & ~1
        hh = (h // 2) & ~1
        y0 = ((h - hh) // 2) & ~1
        key = (w, h, out.__array_interface__["data"][0])
        if self.key != key:
            self.key = key
            nv21.fill_black(out)
        out_y, _ = nv21.planes(out)
        pairs = nv21.vu_pairs(out)
        for src, x0 in ((left, 0), (right, w - hw)):
            src_y, _ = nv21.planes(src)
            cv2.resize(src_y, (hw, hh), dst=out_y[y0:y0 + hh, x0:x0 + hw],
                       interpolation=cv2.INTER_AREA)
            cv2.resize(nv21.vu_pairs(src), (hw // 2, hh // 2),
                       dst=pairs[y0 // 2:(y0 + hh) // 2, x0 // 2:(x0 + hw) // 2],
                       interpolation=cv2.INTER_AREA)
        return out
