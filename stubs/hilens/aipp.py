"""Static AIPP (Ascend "AI pre-processing") from an ``aipp.cfg``: parsing and emulation.

The file is protobuf text format with one ``aipp_op { ... }`` block per model input that gets
AIPP. The chip applies, in this order: crop -> channel swap -> colour-space conversion (CSC) ->
mean/min subtraction and scaling -> padding, and hands the network an NCHW float tensor.
``AippOp.apply`` does the same on a raw uint8 picture:

* YUV420SP is up-sampled to YUV444 before CSC by repeating each 2x2 block's chroma sample
  (nearest neighbour; the chip's exact up-sampling filter is not documented).
* CSC is integer maths: ``out = ((M . (in - input_bias)) >> 8) + output_bias`` with an
  arithmetic (flooring) shift, then saturated to [0, 255] (the chip's pixels are 8-bit).
* Normalisation: ``(x - mean_chn - min_chn) * var_reci_chn`` in float32 (the chip works in
  float16; that rounding is not emulated).
* Padding fills with ``padding_value`` (default 0) after normalisation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

Value = Union[bool, int, float, str]

INPUT_FORMATS = ("YUV420SP_U8", "RGB888_U8", "XRGB8888_U8", "YUV400_U8")
# Bytes per pixel of the raw input picture, as (numerator, denominator).
_BYTES_PER_PIXEL = {"YUV420SP_U8": (3, 2), "RGB888_U8": (3, 1), "XRGB8888_U8": (4, 1), "YUV400_U8": (1, 1)}

_BOOL_FIELDS = ("crop", "rbuv_swap_switch", "ax_swap_switch", "csc_switch", "padding")
_INT_FIELDS = (
    ("related_input_rank", "src_image_size_w", "src_image_size_h", "load_start_pos_w", "load_start_pos_h",
     "crop_size_w", "crop_size_h", "left_padding_size", "right_padding_size", "top_padding_size",
     "bottom_padding_size")
    + tuple("matrix_r%dc%d" % (r, c) for r in range(3) for c in range(3))
    + tuple("%s_bias_%d" % (kind, i) for kind in ("input", "output") for i in range(3))
    + tuple("mean_chn_%d" % i for i in range(4))
)
_FLOAT_FIELDS = tuple("min_chn_%d" % i for i in range(4)) + tuple("var_reci_chn_%d" % i for i in range(4)) + (
    "padding_value",)
_ENUM_FIELDS = ("aipp_mode", "input_format")
KNOWN_FIELDS = frozenset(_BOOL_FIELDS + _INT_FIELDS + _FLOAT_FIELDS + _ENUM_FIELDS)


class AippError(ValueError):
    """An aipp.cfg that ATC would refuse (syntax, unknown field, bad value, size mismatch)."""


# --------------------------------------------------------------------------- parsing

_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?[fF]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}:;,<>])
""", re.VERBOSE)


def _tokens(text: str, source: str) -> Iterator[Tuple[str, str, int]]:
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise AippError("%s:%d: unexpected character %r" % (source, line, text[pos]))
        kind = m.lastgroup
        if kind != "space":
            yield kind, m.group(), line
        line += m.group().count("\n")
        pos = m.end()


def _convert(name: str, kind: str, raw: str, where: str) -> Value:
    if name in _BOOL_FIELDS:
        lowered = raw.lower()
        if lowered in ("true", "t", "1"):
            return True
        if lowered in ("false", "f", "0"):
            return False
        raise AippError("%s: %s must be true or false, got %s" % (where, name, raw))
    if name in _INT_FIELDS:
        if kind != "number" or not re.fullmatch(r"[-+]?\d+", raw):
            raise AippError("%s: %s must be an integer, got %s" % (where, name, raw))
        return int(raw)
    if name in _FLOAT_FIELDS:
        if kind != "number":
            raise AippError("%s: %s must be a number, got %s" % (where, name, raw))
        return float(raw.rstrip("fF"))
    if kind == "string":  # enums may be quoted
        raw = raw[1:-1]
    elif kind != "name":
        raise AippError("%s: %s must be an enum name, got %s" % (where, name, raw))
    return raw


def parse_aipp_text(text: str, source: str = "aipp.cfg") -> List[Dict[str, Value]]:
    """The ``aipp_op`` blocks of a file, as dicts of the fields that were set."""
    toks = list(_tokens(text, source))
    ops: List[Dict[str, Value]] = []
    i = 0

    def expect(idx: int, what: str) -> Tuple[str, str, int]:
        if idx >= len(toks):
            raise AippError("%s: unexpected end of file, expected %s" % (source, what))
        return toks[idx]

    while i < len(toks):
        kind, text_, line = toks[i]
        if kind != "name" or text_ != "aipp_op":
            raise AippError("%s:%d: expected 'aipp_op {', got %r" % (source, line, text_))
        i += 1
        if expect(i, "'{'")[1] == ":":
            i += 1
        if expect(i, "'{'")[1] not in "{<":
            raise AippError("%s:%d: expected '{' after aipp_op" % (source, toks[i][2]))
        close = "}" if toks[i][1] == "{" else ">"
        i += 1
        op: Dict[str, Value] = {}
        while True:
            kind, name, line = expect(i, "a field or '%s'" % close)
            if name == close:
                i += 1
                break
            where = "%s:%d" % (source, line)
            if kind != "name":
                raise AippError("%s: expected a field name, got %r" % (where, name))
            if name not in KNOWN_FIELDS:
                raise AippError("%s: unknown or unsupported AIPP field %r (supported: %s)"
                                % (where, name, ", ".join(sorted(KNOWN_FIELDS))))
            if expect(i + 1, "':'")[1] != ":":
                raise AippError("%s: expected ':' after %s" % (where, name))
            vkind, raw, _ = expect(i + 2, "a value for %s" % name)
            if name in op:
                raise AippError("%s: field %s given twice" % (where, name))
            op[name] = _convert(name, vkind, raw, where)
            i += 3
            if i < len(toks) and toks[i][1] in ",;":
                i += 1
        ops.append(op)
    if not ops:
        raise AippError("%s: no aipp_op block" % source)
    return ops


# --------------------------------------------------------------------------- configuration

@dataclass
class AippConfig:
    """One ``aipp_op`` block with ATC's defaults filled in."""

    aipp_mode: str = "static"
    related_input_rank: int = 0
    input_format: str = "YUV420SP_U8"
    src_image_size_w: int = 0
    src_image_size_h: int = 0
    crop: bool = False
    load_start_pos_w: int = 0
    load_start_pos_h: int = 0
    crop_size_w: int = 0
    crop_size_h: int = 0
    rbuv_swap_switch: bool = False
    ax_swap_switch: bool = False
    csc_switch: bool = False
    matrix: Tuple[Tuple[int, int, int], ...] = ((0, 0, 0), (0, 0, 0), (0, 0, 0))
    input_bias: Tuple[int, int, int] = (0, 0, 0)
    output_bias: Tuple[int, int, int] = (0, 0, 0)
    mean_chn: Tuple[int, int, int, int] = (0, 0, 0, 0)
    min_chn: Tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    var_reci_chn: Tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    padding: bool = False
    left_padding_size: int = 0
    right_padding_size: int = 0
    top_padding_size: int = 0
    bottom_padding_size: int = 0
    padding_value: float = 0.0
    source: str = field(default="aipp.cfg", compare=False)

    @classmethod
    def from_fields(cls, fields: Dict[str, Value], source: str = "aipp.cfg") -> "AippConfig":
        f = dict(fields)
        kw: Dict[str, object] = {"source": source}
        kw["matrix"] = tuple(tuple(int(f.pop("matrix_r%dc%d" % (r, c), 0)) for c in range(3)) for r in range(3))
        kw["input_bias"] = tuple(int(f.pop("input_bias_%d" % i, 0)) for i in range(3))
        kw["output_bias"] = tuple(int(f.pop("output_bias_%d" % i, 0)) for i in range(3))
        kw["mean_chn"] = tuple(int(f.pop("mean_chn_%d" % i, 0)) for i in range(4))
        kw["min_chn"] = tuple(float(f.pop("min_chn_%d" % i, 0.0)) for i in range(4))
        kw["var_reci_chn"] = tuple(float(f.pop("var_reci_chn_%d" % i, 1.0)) for i in range(4))
        kw.update(f)
        cfg = cls(**kw)  # type: ignore[arg-type]
        cfg._check()
        return cfg

    def _check(self) -> None:
        where = "%s (aipp_op for input %d)" % (self.source, self.related_input_rank)
        if self.aipp_mode != "static":
            raise AippError("%s: aipp_mode %r is not emulated; only 'static' is" % (where, self.aipp_mode))
        if self.input_format not in INPUT_FORMATS:
            raise AippError("%s: input_format %r must be one of %s"
                            % (where, self.input_format, ", ".join(INPUT_FORMATS)))
        if self.related_input_rank < 0:
            raise AippError("%s: related_input_rank must be >= 0" % where)
        for name in ("src_image_size_w", "src_image_size_h", "load_start_pos_w", "load_start_pos_h",
                     "crop_size_w", "crop_size_h", "left_padding_size", "right_padding_size",
                     "top_padding_size", "bottom_padding_size"):
            if getattr(self, name) < 0:
                raise AippError("%s: %s must be >= 0" % (where, name))
        if self.input_format == "YUV400_U8" and self.csc_switch:
            raise AippError("%s: csc_switch needs three input channels; YUV400_U8 has one" % where)
        if self.input_format == "YUV420SP_U8":
            for name in ("src_image_size_w", "src_image_size_h", "load_start_pos_w", "load_start_pos_h",
                         "crop_size_w", "crop_size_h"):
                if getattr(self, name) % 2:
                    raise AippError("%s: %s=%d must be even for YUV420SP_U8" % (where, name, getattr(self, name)))

    @property
    def out_channels_in(self) -> int:
        """Channels of the picture after swap/CSC, before the model's channel count is applied."""
        return {"YUV400_U8": 1, "XRGB8888_U8": 4}.get(self.input_format, 3)


def load_aipp_file(path: str) -> List[AippConfig]:
    """Parse an aipp.cfg; AippError names the file, line and field of any problem."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    configs = [AippConfig.from_fields(op, source=path) for op in parse_aipp_text(text, path)]
    ranks = [c.related_input_rank for c in configs]
    if len(set(ranks)) != len(ranks):
        raise AippError("%s: two aipp_op blocks for the same related_input_rank %s" % (path, ranks))
    return configs


# --------------------------------------------------------------------------- emulation

class AippOp:
    """An AippConfig bound to a model input of shape (N, C, H, W): validates the combination
    once (as ATC does at conversion time) and precomputes what every frame needs."""

    def __init__(self, cfg: AippConfig, model_shape: Sequence[int]):
        where = "%s (aipp_op for input %d)" % (cfg.source, cfg.related_input_rank)
        if len(model_shape) != 4:
            raise AippError("%s: the model input must be NCHW (4-D), got shape %s" % (where, tuple(model_shape)))
        n, c, h, w = (int(d) for d in model_shape)
        self.cfg = cfg
        self.batch, self.channels, self.out_h, self.out_w = n, c, h, w
        pad_w = cfg.left_padding_size + cfg.right_padding_size if cfg.padding else 0
        pad_h = cfg.top_padding_size + cfg.bottom_padding_size if cfg.padding else 0
        # ATC: a size of 0 means "take it from the model".
        if cfg.crop:
            self.crop_w = cfg.crop_size_w or w - pad_w
            self.crop_h = cfg.crop_size_h or h - pad_h
            self.x0, self.y0 = cfg.load_start_pos_w, cfg.load_start_pos_h
        else:
            self.x0 = self.y0 = 0
            self.crop_w, self.crop_h = 0, 0  # set below from the source size
        self.src_w = cfg.src_image_size_w or (self.crop_w + self.x0 if cfg.crop else w - pad_w)
        self.src_h = cfg.src_image_size_h or (self.crop_h + self.y0 if cfg.crop else h - pad_h)
        if not cfg.crop:
            self.crop_w, self.crop_h = self.src_w, self.src_h
        yuv420 = cfg.input_format == "YUV420SP_U8"
        for name, value in (("src_image_size_w", self.src_w), ("src_image_size_h", self.src_h),
                            ("crop_size_w", self.crop_w), ("crop_size_h", self.crop_h)):
            if value <= 0 or (yuv420 and value % 2):
                raise AippError("%s: %s resolves to %d; it must be positive%s"
                                % (where, name, value, " and even for YUV420SP_U8" if yuv420 else ""))
        if self.x0 + self.crop_w > self.src_w or self.y0 + self.crop_h > self.src_h:
            raise AippError("%s: crop %dx%d at (%d, %d) does not fit the %dx%d source picture"
                            % (where, self.crop_w, self.crop_h, self.x0, self.y0, self.src_w, self.src_h))
        if self.crop_w + pad_w != w or self.crop_h + pad_h != h:
            raise AippError("%s: AIPP output %dx%d (crop %dx%d + padding %dx%d) != model input %dx%d (W x H)"
                            % (where, self.crop_w + pad_w, self.crop_h + pad_h, self.crop_w, self.crop_h,
                               pad_w, pad_h, w, h))
        have = cfg.out_channels_in
        if c != have and not (cfg.input_format == "XRGB8888_U8" and c == 3):
            raise AippError("%s: %s gives %d channel(s) but the model input has C=%d"
                            % (where, cfg.input_format, have, c))
        num, den = _BYTES_PER_PIXEL[cfg.input_format]
        self.frame_bytes = self.src_w * self.src_h * num // den
        self.input_bytes = self.frame_bytes * n
        self.pad = (cfg.top_padding_size, cfg.left_padding_size) if cfg.padding else (0, 0)
        self._matrix = np.asarray(cfg.matrix, np.int32)
        self._in_bias = np.asarray(cfg.input_bias, np.int32)
        self._out_bias = np.asarray(cfg.output_bias, np.int32)
        # Normalisation of an 8-bit value v is a per-channel table: lut[ch, v].
        values = np.arange(256, dtype=np.float64)
        self._lut = np.stack([
            ((values - cfg.mean_chn[ch] - cfg.min_chn[ch]) * cfg.var_reci_chn[ch]).astype(np.float32)
            for ch in range(4)])
        self._identity_norm = all(cfg.mean_chn[ch] == 0 and cfg.min_chn[ch] == 0 and cfg.var_reci_chn[ch] == 1
                                  for ch in range(4))
        self._fast = self._fast_yuv420_plan()

    def _fast_yuv420_plan(self) -> Optional[Dict[str, np.ndarray]]:
        """Buffers and constants of the OpenCV path for YUV420SP + CSC to 3 channels without
        padding (the usual camera -> RGB model setup), or None when it does not apply.

        The CSC is done as one float32 cv2.transform on [Y, first chroma byte, second chroma
        byte] with the matrix divided by 256 and the biases folded in. Every product and partial
        sum is a multiple of 1/512 below 2**14, so float32 holds it exactly whatever the order of
        operations; adding 1/512 - 0.5 turns the floor of ``>> 8`` into round-to-nearest (never a
        tie), which OpenCV's saturating conversion to uint8 does. The result is bit-identical to
        the integer path below (checked over every Y, U, V in test_bench_aipp_fast.py)."""
        cfg = self.cfg
        if (cfg.input_format != "YUV420SP_U8" or not cfg.csc_switch or self.channels != 3
                or self.pad != (0, 0) or (self.crop_h, self.crop_w) != (self.out_h, self.out_w)
                or self.x0 % 2 or self.y0 % 2):
            return None
        m = self._matrix.astype(np.int64)
        bias = (self._in_bias.astype(np.int64) * m).sum(axis=1)
        if int((np.abs(m).sum(axis=1) * 255 + np.abs(bias)).max()) + 256 * 256 >= (1 << 22):
            return None  # |values| >= 2**14: float32 no longer exact at 1/512 resolution
        first, second = (2, 1) if cfg.rbuv_swap_switch else (1, 2)  # NV21 stores V, U
        rows = [[m[c, 0] / 256.0, m[c, first] / 256.0, m[c, second] / 256.0,
                 -bias[c] / 256.0 + int(self._out_bias[c]) - 0.5 + 1.0 / 512] for c in range(3)]
        h, w = self.crop_h, self.crop_w
        return {
            "matrix": np.asarray(rows, np.float32),
            "luts": [np.ascontiguousarray(self._lut[c]) for c in range(3)],
            "chroma": np.empty((h, w, 2), np.uint8),
            "yuv": np.empty((h, w, 3), np.uint8),
            "yuv_f": np.empty((h, w, 3), np.float32),
            "csc": np.empty((h, w, 3), np.float32),
            "pix": np.empty((h, w, 3), np.uint8),
        }

    def _apply_fast(self, picture: np.ndarray, out: np.ndarray) -> None:
        """One YUV420SP picture -> out (C, H, W) float32 with OpenCV (see _fast_yuv420_plan)."""
        f = self._fast
        x0, y0, cw, ch = self.x0, self.y0, self.crop_w, self.crop_h
        luma = picture[: self.src_w * self.src_h].reshape(self.src_h, self.src_w)[y0:y0 + ch, x0:x0 + cw]
        pairs = picture[self.src_w * self.src_h:].reshape(self.src_h // 2, self.src_w // 2, 2)
        pairs = pairs[y0 // 2:(y0 + ch) // 2, x0 // 2:(x0 + cw) // 2]
        # YUV444 by repeating each 2x2 block's chroma pair, as the integer path does.
        cv2.resize(np.ascontiguousarray(pairs), (cw, ch), dst=f["chroma"], interpolation=cv2.INTER_NEAREST)
        cv2.merge([np.ascontiguousarray(luma), f["chroma"]], dst=f["yuv"])
        np.copyto(f["yuv_f"], f["yuv"])
        cv2.transform(f["yuv_f"], f["matrix"], dst=f["csc"])
        cv2.addWeighted(f["csc"], 1.0, f["csc"], 0.0, 0.0, dst=f["pix"], dtype=cv2.CV_8U)  # round + saturate
        for c, plane in enumerate(cv2.split(f["pix"])):
            cv2.LUT(plane, f["luts"][c], dst=out[c])

    # -- the per-frame path ------------------------------------------------------------

    @property
    def output_shape(self) -> Tuple[int, int, int, int]:
        return (self.batch, self.channels, self.out_h, self.out_w)

    def apply(self, data: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Raw input bytes (any dtype, ``input_bytes`` long) -> float32 (N, C, H, W).

        ``out`` (float32, ``output_shape``) is filled and returned when given; reusing one
        buffer per model saves the page faults of a fresh array on every frame."""
        raw = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        if raw.size != self.input_bytes:
            raise ValueError("AIPP input must be %d bytes, got %d" % (self.input_bytes, raw.size))
        if out is None:
            out = np.empty(self.output_shape, np.float32)
        elif out.shape != self.output_shape or out.dtype != np.float32:
            raise ValueError("out must be float32 of shape %s" % (self.output_shape,))
        if self.pad != (0, 0) or (self.crop_h, self.crop_w) != (self.out_h, self.out_w):
            out.fill(self.cfg.padding_value)
        top, left = self.pad
        for b in range(self.batch):
            picture = raw[b * self.frame_bytes:(b + 1) * self.frame_bytes]
            if self._fast is not None and out.flags.c_contiguous:
                self._apply_fast(picture, out[b])
                continue
            pixels = self._pixels(picture)  # int planes (crop_h, crop_w), CSC ones not yet saturated
            for ch in range(self.channels):
                dst = out[b, ch, top:top + self.crop_h, left:left + self.crop_w]
                # CSC results are saturated to 8 bits here: mode="clip" clamps the table index to
                # [0, 255], which is exactly the chip's saturation.
                if self._identity_norm:
                    np.clip(pixels[ch], 0, 255, out=dst)
                else:
                    np.take(self._lut[ch], pixels[ch], out=dst, mode="clip")
        return out

    def _pixels(self, picture: np.ndarray) -> List[np.ndarray]:
        cfg = self.cfg
        x0, y0, cw, ch = self.x0, self.y0, self.crop_w, self.crop_h
        if cfg.input_format == "YUV420SP_U8":
            luma = picture[: self.src_w * self.src_h].reshape(self.src_h, self.src_w)[y0:y0 + ch, x0:x0 + cw]
            chroma = picture[self.src_w * self.src_h:].reshape(self.src_h // 2, self.src_w // 2, 2)
            chroma = chroma[y0 // 2:(y0 + ch) // 2, x0 // 2:(x0 + cw) // 2]
            # NV12 stores U,V; rbuv_swap_switch reads the pairs the other way round (NV21).
            u, v = (chroma[..., 1], chroma[..., 0]) if cfg.rbuv_swap_switch else (chroma[..., 0], chroma[..., 1])
            if cfg.csc_switch:
                return self._csc_yuv420(luma, u, v)
            return [luma, _upsample2(u), _upsample2(v)]
        if cfg.input_format == "YUV400_U8":
            return [picture.reshape(self.src_h, self.src_w)[y0:y0 + ch, x0:x0 + cw]]
        nch = 4 if cfg.input_format == "XRGB8888_U8" else 3
        img = picture.reshape(self.src_h, self.src_w, nch)[y0:y0 + ch, x0:x0 + cw]
        order = list(range(nch))
        if nch == 4 and cfg.ax_swap_switch:  # XRGB -> RGBX
            order = [1, 2, 3, 0]
        if cfg.rbuv_swap_switch:  # R <-> B (positions 0 and 2 of the colour channels)
            order[0], order[2] = order[2], order[0]
        planes = [img[..., k] for k in order]
        if cfg.csc_switch:
            planes[:3] = self._csc_full(planes[:3])
        return planes

    def _csc_full(self, planes: List[np.ndarray]) -> List[np.ndarray]:
        x = [p.astype(np.int32) - int(b) for p, b in zip(planes, self._in_bias)]
        out = []
        for row, ob in zip(self._matrix, self._out_bias):
            acc = int(row[0]) * x[0] + int(row[1]) * x[1] + int(row[2]) * x[2]
            acc >>= 8
            acc += int(ob)
            out.append(acc)  # saturated in apply()
        return out

    def _csc_yuv420(self, luma: np.ndarray, u: np.ndarray, v: np.ndarray) -> List[np.ndarray]:
        # The chroma term of each output channel is computed once per 2x2 block (half
        # resolution) and broadcast onto the luma term; the constant -M[c,0]*input_bias_0 is
        # folded into it.
        h2, w2 = u.shape
        du = u.astype(np.int32) - int(self._in_bias[1])
        dv = v.astype(np.int32) - int(self._in_bias[2])
        y32 = luma.astype(np.int32)
        weighted_by: Dict[int, np.ndarray] = {}  # usually all three rows share one luma weight
        out = []
        for c in range(3):
            m0, m1, m2 = (int(k) for k in self._matrix[c])
            chroma = m1 * du + m2 * dv - m0 * int(self._in_bias[0])  # (h2, w2)
            weighted = weighted_by.get(m0)
            if weighted is None:
                weighted = weighted_by[m0] = y32 * m0
            # Repeating the half-resolution term along columns, then broadcasting it over each
            # pair of rows, keeps numpy's inner loop long (a 4-D broadcast is 3x slower).
            acc = weighted.reshape(h2, 2, 2 * w2) + np.repeat(chroma, 2, axis=1)[:, None, :]
            acc >>= 8
            if self._out_bias[c]:
                acc += int(self._out_bias[c])
            out.append(acc.reshape(2 * h2, 2 * w2))  # saturated in apply()
        return out


def _upsample2(plane: np.ndarray) -> np.ndarray:
    """Nearest-neighbour 2x up-sampling (each chroma sample covers its 2x2 block)."""
    return np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1)


def aipp_candidates(model_path: str) -> List[str]:
    """Where the AIPP config of a model is looked for, first match wins: the model's own
    ``<stem>.aipp.cfg`` next to it, then in the parent of its folder (the skill root in the
    standard layout), then the shared ``aipp.cfg`` in the same two places. On the device each
    .om has its AIPP baked in by omg/atc (convert_om.sh gives every model its own file); a skill
    with several models therefore gives each one its own ``<stem>.aipp.cfg``."""
    import os

    folder = os.path.dirname(os.path.abspath(model_path))
    stem = os.path.splitext(os.path.basename(model_path))[0]
    parent = os.path.dirname(folder)
    return [os.path.join(folder, stem + ".aipp.cfg"), os.path.join(parent, stem + ".aipp.cfg"),
            os.path.join(folder, "aipp.cfg"), os.path.join(parent, "aipp.cfg")]


def find_aipp_file(model_path: str) -> Optional[str]:
    """The first existing file of ``aipp_candidates(model_path)``, or None."""
    import os

    for candidate in aipp_candidates(model_path):
        if os.path.isfile(candidate):
            return candidate
    return None
