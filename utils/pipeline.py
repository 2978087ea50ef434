"""Everything between camera.read() and display.show(): FramePipeline.process -> FrameResult.

Stages (each timed; FrameResult.stage_ms has them in this order):
  resize      frame -> matte-size NV21 (hilens.Preprocessor; OpenCV outside its range): the
              guide of the upsampling and the scene-cut test; with the selfie model alone
              the matte size is the model size and this is also the model's input
  people      the person stage (utils.people): detector when due, segmenter per person,
              their masks pasted into one matte-size alpha
  infer       the selfie model when it runs (fusion.use_selfie): model-size NV21 (hardware
              resize) and the prior -> alpha, output checks
  postprocess the selfie alpha's clean-up at model size, the fusion with the people's
              matte at matte size, the matte history (utils.history), then the soft
              threshold of what is shown (utils.postprocess: after the history)
  upsample    matte -> frame size (guided by Y with the selfie model alone, else bilinear)
  composite   background, NV21 blend, output layout (side by side, fixed display size)
Which segmenters run is decided by the models the pipeline is given (open_pipeline gives
it those of cfg.segmenter): the selfie model alone, the person stage alone, or both (auto).
The stages share nothing but what process() hands from one to the next; what lasts from
frame to frame (the prior, the matte history) is the TemporalState's and the followed
people are the person stage's Tracks; only process() tells them what happened. Buffers are
allocated at the first frame of a size and reused; nothing at frame size is more than a few
OpenCV calls on uint8 (the guided-filter coefficients are float32).
"""
import time
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np

from utils import composite, fusion, log, nv21
from utils.background import Background
from utils.inference import MattingModel
from utils.postprocess import PostProcessor
from utils.temporal import TemporalState
from utils.upsample import Upsampler, union

STAGES = ("resize", "people", "infer", "postprocess", "upsample", "composite")


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
    calls: Dict[str, int] = {}  # the calls per model ("selfie", "detector", "segmenter")
    model_ms: Dict[str, float] = {}  # their wall time per model
    people: int = 0  # people the person stage segmented
    events: Tuple[str, ...] = ()  # faults handled this frame ("crop refused", "... failed")


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

    `model` has hilens.Model's infer() (the selfie matting model, or None); `people` is a
    utils.people.People (the person stage, or None); at least one of them. `resizer(src,
    w, h)` returns the NV21 src resized to w x h (hilens.Preprocessor().resize with t=0 on
    the device); by default OpenCV. File names in `cfg` come resolved
    (utils.config.load_config)."""

    def __init__(self, cfg, model=None, resizer=None, background=None, people=None):
        if model is None and people is None:
            raise ValueError("the pipeline needs the selfie model, the person stage or both")
        self.cfg = cfg
        self.mw = cfg.model_width
        self.mh = cfg.model_height
        self.model = MattingModel(model, self.mw, self.mh, cfg.feedback) \
            if model is not None else None
        self.people = people
        self.fusion = fusion.Fusion(cfg.closeup, cfg.selfie_hold) \
            if model is not None and people is not None else None
        self.resizer = resizer
        self.state = TemporalState.from_config(cfg, self.mw, self.mh)
        self.post = PostProcessor(cfg)
        if people is None:
            self.upsampler = Upsampler(cfg.upsample, cfg.guided_radius, cfg.guided_eps)
        else:
            # With the person stage the matte is finer than the selfie model's alpha; both
            # the selfie alpha to the matte and the matte to the frame are scaled
            # bilinearly (on person mattes the guided filter drew halos and cost 2 ms at
            # 1280x720 for no IoU: see utils/people.py; on the selfie alpha it cost 0.6-0.8
            # ms a selfie frame at 640x480 for -0.0013..+0.0017 IoU and boundary F on the
            # suites: docs/PERFORMANCE.md). `upsample` is the selfie model's alone.
            self.upsampler = Upsampler("bilinear")
            self.selfie_up = Upsampler("bilinear")
        self.background = background if background is not None else \
            Background(cfg.background, cfg.blur_size)
        self.compositor = composite.Compositor()
        self.side_by_side = composite.SideBySide()
        self.frame_size = None
        self.display_size = None
        self.matte_size = (self.mw, self.mh)
        self.small = nv21.empty(self.mw, self.mh)
        self._resize_throttle = log.Throttle(30.0)

    @property
    def segmenter(self) -> str:
        """Which segmenters run: 'selfie', 'person' or 'auto' (both, fused)."""
        if self.people is None:
            return "selfie"
        return "person" if self.model is None else "auto"

    # -- buffers ---------------------------------------------------------------------
    def matte_size_for(self, w: int, h: int) -> Tuple[int, int]:
        """The matte is made at the model size with the selfie model alone; with the person
        stage at `matte_height` rows (never more than the frame's), the frame's aspect."""
        if self.people is None:
            return self.mw, self.mh
        mh = min(self.cfg.matte_height, h)
        mh = max(2, mh - mh % 2)
        mw = max(2, int(round(w * mh / float(h) / 2.0)) * 2)
        return mw, mh

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
        size = self.matte_size_for(w, h)
        if size != self.matte_size:
            self.matte_size = size
            self.state.set_matte_size(*size)
        self.matte_nv21 = self.small if size == (self.mw, self.mh) else nv21.empty(*size)
        self.person_alpha = np.zeros((size[1], size[0]), np.float32)
        # the box person_alpha is 0 outside after the last frame (None: not known): the
        # person stage zeroes only that box before its pastes
        self._person_dirty: Optional[Tuple[int, int, int, int]] = None
        self.fused = np.empty((size[1], size[0]), np.float32)
        self.selfie_u8 = np.empty((size[1], size[0]), np.uint8)
        self.region8 = np.empty((size[1], size[0]), np.uint8)
        if self.people is not None:
            self.selfie_up.forget()  # a new buffer: zeroed whole on its first run

    # -- stages ----------------------------------------------------------------------
    def _resize(self, frame, mw, mh, out):
        if self.resizer is not None:
            try:
                small = np.asarray(self.resizer(frame, mw, mh))
                if small.dtype == np.uint8 and small.size == mw * mh * 3 // 2:
                    np.copyto(out, small.reshape(mh * 3 // 2, mw))
                    return out
                why = "returned %s %s" % (small.dtype, small.shape)
            except ValueError as e:
                why = str(e)
            self._resize_throttle("warning", "resize: hardware resizer failed for %dx%d "
                                  "(%s); using OpenCV" % (self.frame_size + (why,)))
        return nv21.resize(frame, mw, mh, out=out)

    def _composite(self, frame, small):
        w, h = self.frame_size
        if self.background.is_matte:
            self.compositor.forget()
            return composite.matte(self.alpha_full, self.blended)
        bg = self.background.frame(w, h, small)
        return self.compositor.run(frame, bg, self.alpha_full, self.blended, self.alpha_half,
                                   self.upsampler.box, self.background.is_still)

    def _untouched(self, frame):
        """What is shown when no matte was made: the frame, or with `background: alpha` the
        matte stream's picture of "everything is foreground" (the alpha PNGs say the same),
        never the colour picture in a stream a keyer reads as a matte."""
        if self.background.is_matte:
            self.compositor.forget()
            return composite.matte(self.alpha_full, self.blended)
        return frame

    def _layout(self, frame, picture):
        dw, dh = self.display_size
        if self.cfg.view == "side_by_side":
            return self.side_by_side.run(frame, picture, self.out)
        if self.frame_size == (dw, dh):
            return picture
        return nv21.resize(picture, dw, dh, out=self.out)

    def _selfie(self, frame, matte_nv21):
        """The selfie model's Inference (its input resized from the frame by the hardware,
        or the matte-size picture itself when that is the model size)."""
        if matte_nv21 is self.small:
            small = matte_nv21
        else:
            small = self._resize(frame, self.mw, self.mh, self.small)
        inference = self.model.infer(small, self.state.feedback())
        if inference.ok:
            self.state.new_alpha(inference.value)
        return inference

    def _matte(self, selfie_alpha, person, matte_y):
        """(matte, box): the matte at matte size before the history and the threshold (the
        selfie alpha cleaned up at model size and brought to the matte size, the people's
        matte, fused: fusion.fuse) and the box (x0, y0, x1, y1) it is 0 outside, None when
        not known (the selfie model alone)."""
        selfie = self.post.run(selfie_alpha) if selfie_alpha is not None else None
        if person is None:
            return selfie, None
        people = self.person_alpha
        if selfie is None:
            return people, person.box
        selfie_y, _ = nv21.planes(self.small)
        self.selfie_up.run(selfie, selfie_y, matte_y, self.selfie_u8)
        # the selfie matte is 0 outside the box it was made in: the people's matte is the
        # fused one there, and the fusion runs on that box only
        written = self.selfie_up.written
        x0, y0, x1, y1 = written if written is not None else (0, 0) + people.shape[::-1]
        box = np.s_[y0:y1, x0:x1]
        if self.fusion.close_up(person):
            self.fusion.reset()  # its whole matte joins: nothing to hold
        else:
            # only what the selfie matte adds to the followed people (utils.fusion)
            fusion.drop_followed(self.selfie_u8[box], people[box], self.region8[box])
            added = fusion.unfollowed(self.selfie_u8, person.rois, self.region8)
            if not self.fusion.keep(added / float(people.size)):
                # a second look that adds nobody: as if it had not run (the next run
                # starts without this prior, as it would have)
                self.state.no_alpha()
                return people, person.box
        np.multiply(self.selfie_u8[box], np.float32(1.0 / 255.0), out=self.fused[box])
        fusion.fuse(self.fused[box], people[box], people[box])
        return people, None if written is None else union(person.box, written)

    def process(self, frame: np.ndarray) -> FrameResult:
        """frame: NV21 (H*3/2, W) or BGR (H, W, 3) uint8. ValueError for anything else
        (the caller skips such a frame); never raises for model or data faults."""
        laps = _Laps()
        frame = nv21.as_nv21(frame)
        w, h = nv21.nv21_size(frame)
        if (w, h) != self.frame_size:
            self._setup(w, h)
        mw, mh = self.matte_size
        small = self._resize(frame, mw, mh, self.matte_nv21)
        small_y, _ = nv21.planes(small)
        laps("resize")

        reset = self.state.begin_frame((w, h), small_y)
        resets = () if reset is None else (reset,)
        calls: Dict[str, int] = {}
        model_ms: Dict[str, float] = {}
        events: Tuple[str, ...] = ()
        person = None
        if self.people is not None:
            if reset is not None:
                self.people.reset()
                if self.fusion is not None:
                    self.fusion.reset()
            person = self.people.run(frame, self.person_alpha, self._person_dirty)
            self._person_dirty = person.box  # (what the pastes wrote: see below for more)
            calls.update(person.calls)
            model_ms.update(person.ms)
            events += person.events
        laps("people")

        selfie: Optional[np.ndarray] = None
        ok = True
        if self.model is not None:
            if self.fusion is None or self.fusion.use_selfie(person):
                inference = self._selfie(frame, small)
                calls["selfie"] = inference.calls
                model_ms["selfie"] = inference.ms
                if inference.ok:
                    selfie = inference.value
                elif person is None or not person.ok:
                    ok = False
                else:
                    events += ("selfie failed",)
            else:
                self.state.no_alpha()
                calls["selfie"] = 0
                model_ms["selfie"] = 0.0
        if person is not None and not person.ok and selfie is None:
            ok = False  # nothing to trust this frame
        laps("infer")

        if ok:
            matte, nonzero = self._matte(selfie, person, small_y)
            matte = self.state.new_matte(matte, nonzero)
            # the box it is 0 outside now: a bridged glitch brought the history's in
            nonzero = self.state.matte_box
            self.post.threshold(matte, nonzero)  # (the history keeps its own copy)
            if person is not None:
                self._person_dirty = nonzero  # (the fusion's and the bridge's writes too)
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
            self.upsampler.forget()
            laps.skip("postprocess", "upsample")
            out = self._layout(frame, self._untouched(frame))
        laps("composite")
        return FrameResult(out, self.alpha_full, self.alpha_half, ok, laps.ms, resets,
                           sum(calls.values()), calls, model_ms,
                           person.people if person is not None else 0, events)

    def close(self) -> None:
        self.background.close()


def hardware_resizer(pre=None):
    """resizer(src, w, h) -> NV21 through hilens.Preprocessor (the device's scaler)."""
    if pre is None:
        import hilens  # only here: the stages themselves run on fakes in unit tests
        pre = hilens.Preprocessor()

    def resize(src, w, h):
        return pre.resize(src, w, h, 0)
    return resize


def _load(path, what):
    import hilens
    try:
        return hilens.Model(path)
    except Exception as e:  # hilens.CreateError
        raise ValueError("cannot load the %s %s (%s: %s)" % (what, path, type(e).__name__, e))


def open_pipeline(cfg) -> FramePipeline:
    """The skill's pipeline for a config, its models loaded through hilens: what main.py
    runs and what the evaluation and benchmark tools measure (one place builds it, so the
    tools cannot drift from the skill). cfg.segmenter says which models: 'selfie' (cfg.model),
    'person' (cfg.detector_model and cfg.segmenter_model) or 'auto' (all three; when a
    person model cannot be loaded, auto says so in one line and runs the selfie model alone).
    ValueError naming the model file and what was expected when a model it needs cannot be
    loaded or does not take the inputs the skill sends."""
    import hilens
    from utils import people as people_stage
    segmenter = cfg.segmenter
    model = _load(cfg.model, "selfie model") if segmenter in ("selfie", "auto") else None
    pre = hilens.Preprocessor()
    people = None
    if segmenter in ("person", "auto"):
        try:
            people = people_stage.open_people(cfg, _load, pre)
        except ValueError as e:
            if segmenter == "person":
                raise
            log.error("model: segmenter auto runs the selfie model alone: %s" % e)
    return FramePipeline(cfg, model, hardware_resizer(pre), people=people)
