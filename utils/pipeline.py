"""Everything between camera.read() and display.show(): FramePipeline.process(frame).

Stages (timed separately, ms of the last frame in `stage_ms`):
  resize      frame -> model-size NV21 (hilens.Preprocessor; OpenCV outside its range)
  infer       scene-cut check, model.infer([nv21_small, prior]), output checks
  postprocess prior update, clean-up / threshold / smoothing at model size
  upsample    alpha -> frame size (guided by Y)
  composite   background, NV21 blend, output layout (side by side, fixed display size)
Buffers are allocated at the first frame of a size and reused; nothing at frame size is
more than a few OpenCV calls on uint8 (the guided-filter coefficients are float32).
"""
import time

import numpy as np

from utils import composite, log, nv21
from utils.background import Background
from utils.inference import MattingModel
from utils.postprocess import PostProcessor
from utils.temporal import TemporalState
from utils.upsample import Upsampler

STAGES = ("resize", "infer", "postprocess", "upsample", "composite")


class FramePipeline(object):
    """process(frame) -> NV21 frame for the display.

    `model` has hilens.Model's infer(); `resizer(src, w, h)` returns the NV21 src resized
    to w x h (hilens.Preprocessor().resize with t=0 on the device); by default OpenCV.
    The returned array is reused by the next call: copy it to keep it."""

    def __init__(self, cfg, model, resizer=None, background=None):
        self.cfg = cfg
        self.mw = cfg.model_width
        self.mh = cfg.model_height
        self.model = MattingModel(model, self.mw, self.mh, cfg.feedback)
        self.resizer = resizer
        self.state = TemporalState(self.mw, self.mh, cfg.prior_decay, cfg.prior_floor,
                                   cfg.scene_cut)
        self.post = PostProcessor(cfg)
        self.upsampler = Upsampler(cfg.upsample, cfg.guided_radius, cfg.guided_eps)
        self.background = background if background is not None else \
            Background(cfg.background, cfg.blur_size)
        self.compositor = composite.Compositor()
        self.side_by_side = composite.SideBySide()
        self.stage_ms = dict((s, 0.0) for s in STAGES)
        self.frames = 0
        self.failed = 0  # frames shown untouched because inference failed
        self.last_ok = False
        self.frame_size = None
        self.display_size = None
        self.small = nv21.empty(self.mw, self.mh)
        self.alpha_full = None
        self.result = None
        self.out = None
        self._resize_throttle = log.Throttle(30.0)

    # -- buffers ---------------------------------------------------------------------
    def _setup(self, w, h):
        if self.frame_size is not None:
            log.info("pipeline: frame size %dx%d -> %dx%d" % (self.frame_size + (w, h)))
        self.frame_size = (w, h)
        self.alpha_full = np.empty((h, w), np.uint8)
        self.alpha_half = np.empty((h // 2, w // 2), np.uint8)  # alpha per chroma sample
        self.result = nv21.empty(w, h)
        if self.display_size is None:
            self.display_size = (w, h)  # the display keeps the first size for good
            self.out = nv21.empty(w, h)

    # -- stages ----------------------------------------------------------------------
    def _resize(self, frame):
        mw, mh = self.mw, self.mh
        if self.resizer is not None:
            try:
                small = np.asarray(self.resizer(frame, mw, mh))
                if small.dtype == np.uint8 and small.size == mw * mh * 3 // 2:
                    np.copyto(self.small, small.reshape(mh * 3 // 2, mw))
                    return self.small
                why = "returned %s %s" % (small.dtype, small.shape)
            except ValueError as e:
                why = str(e)
            self._resize_throttle("warning", "resize: hardware resizer failed for %dx%d "
                                  "(%s); using OpenCV" % (self.frame_size + (why,)))
        return nv21.resize(frame, mw, mh, out=self.small)

    def _layout(self, frame, result):
        dw, dh = self.display_size
        if self.cfg.view == "side_by_side":
            return self.side_by_side.run(frame, result, self.out)
        if self.frame_size == (dw, dh):
            return result
        return nv21.resize(result, dw, dh, out=self.out)

    def process(self, frame):
        """frame: NV21 (H*3/2, W) or BGR (H, W, 3) uint8. ValueError for anything else
        (the caller skips such a frame); never raises for model or data faults."""
        t0 = time.perf_counter()
        frame = nv21.as_nv21(frame)
        w, h = nv21.nv21_size(frame)
        if (w, h) != self.frame_size:
            self._setup(w, h)
        small = self._resize(frame)
        t1 = time.perf_counter()

        self.state.begin_frame((w, h), small[:self.mh])
        inference = self.model.infer(small, self.state.feedback())
        alpha = inference.value
        t2 = time.perf_counter()

        if not inference.ok:
            # Show the untouched frame and start the prior from scratch.
            self.state.reset("inference failed")
            self.failed += 1
            self.last_ok = False
            self.alpha_full.fill(255)
            self.alpha_half.fill(255)
            t3 = t4 = t2
            out = self._layout(frame, frame)
        else:
            self.state.update(alpha)
            a = self.post.run(alpha, self.state)
            t3 = time.perf_counter()
            self.upsampler.run(a, small[:self.mh], frame[:h], self.alpha_full,
                               self.alpha_half)
            t4 = time.perf_counter()
            if self.background.is_matte:
                composite.matte(self.alpha_full, self.result)
            else:
                bg = self.background.frame(w, h, small)
                self.compositor.run(frame, bg, self.alpha_full, self.result, self.alpha_half)
            self.last_ok = True
            out = self._layout(frame, self.result)
        t5 = time.perf_counter()

        for name, a_, b_ in (("resize", t0, t1), ("infer", t1, t2), ("postprocess", t2, t3),
                             ("upsample", t3, t4), ("composite", t4, t5)):
            self.stage_ms[name] = (b_ - a_) * 1000.0
        self.frames += 1
        return out

    def close(self):
        self.background.close()
