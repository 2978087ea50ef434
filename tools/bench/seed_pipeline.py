"""A seed-style reference pipeline: the per-frame path of the original HiLens matting demo.

It is what tools/bench/bench.py compares the skill against. It uses the same model, the same
hardware resize and the same infer input as the skill (so the infer stage costs the same),
and then does what the seed demo did after inference:

    alpha (model size) -> cv2.resize to the frame size (float32, bilinear)
    NV21 frame -> RGB of the whole frame (cv2.cvtColor)
    out = alpha * fg + (1 - alpha) * bg, float32 in RGB, truncated to uint8
    RGB -> NV21 for the display (hilens.cvt_color)

Given the benefit of the doubt: the background is converted to RGB float32 once per frame
size (not per frame) and the previous alpha is fed back as the prior like the skill does, so
the seed pays only for what its design makes it do on every frame. PC only (tools/).
"""
import time

import cv2
import numpy as np

import hilens

STAGES = ("resize", "infer", "postprocess", "upsample", "composite")


class SeedPipeline(object):
    """process(frame NV21) -> NV21 out; per-stage ms of the last frame in `stage_ms`.

    model: hilens.Model (inputs [NV21 uint8, prev_alpha float32]); resizer(src, w, h) -> NV21
    at model size; background_rgb(w, h) -> RGB uint8 (h, w, 3) picture for that frame size."""

    def __init__(self, model, resizer, background_rgb, model_width, model_height,
                 feedback=True):
        self.model = model
        self.resizer = resizer
        self.background_rgb = background_rgb
        self.mw = int(model_width)
        self.mh = int(model_height)
        self.feedback = feedback
        self.prior = np.zeros(self.mw * self.mh, np.float32)
        self.size = None
        self.bg_f32 = None
        self.alpha_full = None  # float32 (H, W) in [0, 1] of the last frame
        self.stage_ms = dict((s, 0.0) for s in STAGES)

    def process(self, frame):
        t0 = time.perf_counter()
        h = frame.shape[0] * 2 // 3
        w = frame.shape[1]
        if self.size != (w, h):
            self.size = (w, h)
            self.bg_f32 = self.background_rgb(w, h).astype(np.float32)
        small = np.asarray(self.resizer(frame, self.mw, self.mh))
        t1 = time.perf_counter()

        outputs = self.model.infer([small.reshape(-1), self.prior])
        if not isinstance(outputs, list):
            raise RuntimeError("seed pipeline: infer returned error code %r" % (outputs,))
        t2 = time.perf_counter()

        alpha = np.clip(outputs[0].reshape(self.mh, self.mw), 0.0, 1.0)
        if self.feedback:
            self.prior = alpha.reshape(-1).copy()
        t3 = time.perf_counter()

        alpha_full = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        self.alpha_full = alpha_full
        t4 = time.perf_counter()

        rgb = cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_NV21)
        a = alpha_full[:, :, None]
        comp = a * rgb + (1.0 - a) * self.bg_f32  # float32 throughout
        out = hilens.cvt_color(comp.astype(np.uint8), hilens.RGB2YUV_NV21)
        t5 = time.perf_counter()

        for name, a_, b_ in (("resize", t0, t1), ("infer", t1, t2), ("postprocess", t2, t3),
                             ("upsample", t3, t4), ("composite", t4, t5)):
            self.stage_ms[name] = (b_ - a_) * 1000.0
        return out
