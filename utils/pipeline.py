"""Everything between camera.read() and display.show(): FramePipeline.process -> FrameResult.

Stages (each timed; FrameResult.stage_ms has them in this order):
  resize      frame -> model-size NV21 (hilens.Preprocessor; OpenCV outside its range)
  infer       scene-cut check, model.infer([nv21_small, prior]), output checks
  postprocess prior update, clean-up / threshold, matte history (smoothing) at model size
  upsample    alpha -> frame size (guided by Y)
  composite   background, NV21 blend, output layout (side by side, fixed display size)
The stages share nothing but what process() hands from one to the next; what lasts from
frame to frame (the prior, the matte history) is the TemporalState's, and only process()
tells it what happened. Buffers are allocated at the first frame of a size and reused;
nothing at frame size is more than a few OpenCV calls on uint8 (the guided-filter
coefficients are float32).
"""
import time
from typing import Dict, NamedTuple, Tuple

import numpy as np

from utils import composite, log, nv21
from utils.background import Background
from utils.inference import MattingModel
from utils.postprocess import PostProcessor
from utils.temporal import TemporalState
from utils.upsample import Upsampler

STAGES = ("resize", "infer", "postprocess", "upsample", "composite")


class FrameResult(NamedTuple):
    """What process() made of one frame. The arrays are the pipeline's buffers, overwritten
    by the next call: copy what you keep."""
    output: np.ndarray  # NV21 at the display size (the first frame's), for display.show()
    alpha: np.ndarray  # uint8 (H, W) matte at the frame size; 255 where inference failed
    alpha_half: np.ndarray  # uint8 (H/2, W/2): the alpha per chroma sample, as blended
    ok: bool  # False: inference failed, the frame is shown untouched
    stage_ms: Dict[str, float]  # ms per stage, STAGES in order (more stages may come)
    resets: Tuple[str, ...]  # why the temporal state was reset this frame, if it was
    model_calls: int  # hilens infer calls made for this frame


class _Laps(object):
    """Stage timer: each call closes the stage that ran since the previous call."""

    def __init__(self):
        self.ms: Dict[str, float] = {}
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = (now - self.last) * 1000.0
        self.last = now

    def skip(self, *stages: str) -> None:
        for stage in stages:
            self.ms[stage] = 0.0


class FramePipeline(object):
    """process(frame) -> FrameResult.

    `model` has hilens.Model's infer(); `resizer(src, w, h)` returns the NV21 src resized
    to w x h (hilens.Preprocessor().resize with t=0 on the device); by default OpenCV.
    File names in `cfg` come resolved (utils.config.load_config)."""

    def __init__(self, cfg, model, resizer=None, background=None):
        self.cfg = cfg
        self.mw = cfg.model_width
        self.mh = cfg.model_height
        self.model = MattingModel(model, self.mw, self.mh, cfg.feedback)
        self.resizer = resizer
        self.state = TemporalState(self.mw, self.mh, cfg.prior_decay, cfg.prior_floor,
                                   cfg.scene_cut, cfg.smoothing, cfg.smoothing_motion)
        self.post = PostProcessor(cfg)
        self.upsampler = Upsampler(cfg.upsample, cfg.guided_radius, cfg.guided_eps)
        self.background = background if background is not None else \
            Background(cfg.background, cfg.blur_size)
        self.compositor = composite.Compositor()
        self.side_by_side = composite.SideBySide()
        self.frame_size = None
        self.display_size = None
        self.small = nv21.empty(self.mw, self.mh)
        self._resize_throttle = log.Throttle(30.0)

    # -- buffers ---------------------------------------------------------------------
    def _setup(self, w, h):
        if self.frame_size is not None:
            log.info("pipeline: frame size %dx%d -> %dx%d" % (self.frame_size + (w, h)))
        self.frame_size = (w, h)
        self.alpha_full = np.empty((h, w), np.uint8)
        self.alpha_half = np.empty((h // 2, w // 2), np.uint8)  # alpha per chroma sample
        self.blended = nv21.empty(w, h)
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

    def _composite(self, frame, small):
        w, h = self.frame_size
        if self.background.is_matte:
            return composite.matte(self.alpha_full, self.blended)
        bg = self.background.frame(w, h, small)
        return self.compositor.run(frame, bg, self.alpha_full, self.blended, self.alpha_half)

    def _untouched(self, frame):
        """What is shown when no matte was made: the frame, or with `background: alpha` the
        matte stream's picture of "everything is foreground" (the alpha PNGs say the same),
        never the colour picture in a stream a keyer reads as a matte."""
        if self.background.is_matte:
            return composite.matte(self.alpha_full, self.blended)
        return frame

    def _layout(self, frame, picture):
        dw, dh = self.display_size
        if self.cfg.view == "side_by_side":
            return self.side_by_side.run(frame, picture, self.out)
        if self.frame_size == (dw, dh):
            return picture
        return nv21.resize(picture, dw, dh, out=self.out)

    def process(self, frame: np.ndarray) -> FrameResult:
        """frame: NV21 (H*3/2, W) or BGR (H, W, 3) uint8. ValueError for anything else
        (the caller skips such a frame); never raises for model or data faults."""
        laps = _Laps()
        frame = nv21.as_nv21(frame)
        w, h = nv21.nv21_size(frame)
        if (w, h) != self.frame_size:
            self._setup(w, h)
        small = self._resize(frame)
        small_y, _ = nv21.planes(small)
        laps("resize")

        reset = self.state.begin_frame((w, h), small_y)
        resets = () if reset is None else (reset,)
        inference = self.model.infer(small, self.state.feedback())
        laps("infer")

        if inference.ok:
            self.state.new_alpha(inference.value)
            matte = self.state.new_matte(self.post.run(inference.value))
            laps("postprocess")
            frame_y, _ = nv21.planes(frame)
            self.upsampler.run(matte, small_y, frame_y, self.alpha_full, self.alpha_half)
            laps("upsample")
            out = self._layout(frame, self._composite(frame, small))
        else:
            # Show the untouched frame and start the prior from scratch.
            resets += (self.state.inference_failed(),)
            self.alpha_full.fill(255)
            self.alpha_half.fill(255)
            laps.skip("postprocess", "upsample")
            out = self._layout(frame, self._untouched(frame))
        laps("composite")
        return FrameResult(out, self.alpha_full, self.alpha_half, inference.ok, laps.ms,
                           resets, inference.calls)

    def close(self) -> None:
        self.background.close()


def hardware_resizer():
    """resizer(src, w, h) -> NV21 through hilens.Preprocessor (the device's scaler)."""
    import hilens  # only here: the stages themselves run on fakes in unit tests
    pre = hilens.Preprocessor()

    def resize(src, w, h):
        return pre.resize(src, w, h, 0)
    return resize


def open_pipeline(cfg) -> FramePipeline:
    """The skill's pipeline for a config, its models loaded through hilens: what main.py
    runs and what the evaluation and benchmark tools measure (one place builds it, so the
    tools cannot drift from the skill). ValueError naming the model file when it cannot be
    loaded."""
    import hilens
    try:
        model = hilens.Model(cfg.model)
    except Exception as e:  # hilens.CreateError
        raise ValueError("cannot load %s (%s: %s)" % (cfg.model, type(e).__name__, e))
    return FramePipeline(cfg, model, hardware_resizer())
