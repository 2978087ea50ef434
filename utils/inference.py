"""Model wrappers: one result type for every model call, the matting model's checks.

hilens.Model.infer takes a list of flat uint8/float32 arrays and returns a list of flat
float arrays, or an int error code when an input's size does not match the model (also
when the number of inputs is wrong), and raises on bad dtypes or device errors. `Model`
turns all three into one `Inference` (a value or an error, and the calls it took) and
names the model in its log lines, so a frame that runs several models (a detector and a
segmenter) reports each by name. `MattingModel` is the matting network:
- it finds out on the first frame whether the model has a prev_alpha input: it tries
  [image, prior]; if that fails and [image] alone works, it is a model without feedback
  (logged once) and gets one input from then on;
- a model that gives no output (an error code: it refused the sizes sent; or an exception)
  is not called again on every frame: one that never worked is tried again after 1 s, then
  2, 4, ... up to 60 s (the first refusal says once what was sent and where the model's own
  sizes are logged: the device API cannot ask an .om for them); one that worked backs off
  the same way after 3 failed frames in a row;
- it turns outputs of the wrong size and NaN/inf values into errors with a rate-limited
  log line, so the caller shows the untouched frame;
- it clips the alpha to [0, 1] (an unclipped sigmoid-free head must not overflow uint8).
"""
import math
import time
from typing import Any, List, NamedTuple, Optional

import cv2
import numpy as np

from utils import log


def all_finite(values: np.ndarray) -> bool:
    """No NaN or inf in a 2-D float32 array. Its float64 sum is finite exactly when every
    value is: one pass, no temporary; the element test only when it is not."""
    return math.isfinite(cv2.sumElems(values)[0]) or bool(np.isfinite(values).all())


class Inference(NamedTuple):
    """What a model gave: `value` (Model.run: the list of flat outputs; MattingModel.infer:
    the checked alpha) or, when `error` is set, nothing; `calls` is how many hilens
    infer calls that took (the matting model probes its inputs on the first frame) and
    `ms` their wall time."""
    value: Any
    error: str = ""
    calls: int = 1
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error


class Model(object):
    """A hilens.Model with a name. run() always returns an Inference; fail() logs an error
    (at most one line per 5 s and model) and returns it as a failed Inference.
    `expects` describes the inputs for the line that reports an error code."""

    def __init__(self, model, name: str, expects: str = ""):
        self.model = model
        self.name = name
        self.expects = expects
        self._throttle = log.Throttle(5.0)

    def run(self, inputs: List[np.ndarray]) -> Inference:
        t0 = time.perf_counter()
        try:
            outputs = self.model.infer(inputs)
        except Exception as e:  # ValueError for bad dtypes, device errors
            return Inference(None, "infer raised %s: %s" % (type(e).__name__, e),
                             ms=(time.perf_counter() - t0) * 1000.0)
        ms = (time.perf_counter() - t0) * 1000.0
        if not isinstance(outputs, (list, tuple)):
            error = "infer returned error code %r" % (outputs,)
            if self.expects:
                error += " for what was sent: " + self.expects
            return Inference(None, error, ms=ms)
        return Inference(list(outputs), ms=ms)

    def fail(self, error: str, calls: int = 1, ms: float = 0.0) -> Inference:
        self._throttle("error", "%s model: %s" % (self.name, error))
        return Inference(None, error, calls, ms)


# Back-off for a model that gives no output (see the module doc).
FAILURES_BEFORE_BACKOFF = 3
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


class MattingModel(Model):
    """infer(model-size NV21, prior) -> Inference whose value is the alpha at model size."""

    def __init__(self, model, width: int, height: int, feedback: bool = True,
                 name: str = "matting", clock=time.monotonic):
        self.width = int(width)
        self.height = int(height)
        expects = ("image NV21 uint8 %d bytes (%dx%d) + prev_alpha float32 %d values"
                   % (self.width * self.height * 3 // 2, self.width, self.height,
                      self.width * self.height))
        Model.__init__(self, model, name, expects)
        self.use_feedback = bool(feedback)
        self.has_prior_input: Optional[bool] = None  # unknown until the first success
        self._zeros = np.zeros(self.width * self.height, np.float32)
        self.alpha = np.empty((self.height, self.width), np.float32)
        self.clock = clock
        self.failing = 0  # frames in a row on which the model gave no output
        self._retry_at: Optional[float] = None  # backing off: when the model is tried again
        self._retry_s = RETRY_FIRST_S
        self._explained = False

    def infer(self, small_nv21: np.ndarray, prior: np.ndarray) -> Inference:
        """small_nv21: (h*3/2, w) uint8; prior: (h, w) float32. The value of a successful
        Inference is the alpha as float32 (h, w) in [0, 1], reused between calls."""
        image = np.ascontiguousarray(small_nv21).reshape(-1)
        if image.size != self.width * self.height * 3 // 2 or image.dtype != np.uint8:
            return self.fail("model-size frame has %d %s values, expected %s"
                             % (image.size, image.dtype, self.expects), calls=0)
        if self._retry_at is not None and self.clock() < self._retry_at:
            return Inference(None, "not tried: backing off after %d failed frame(s)"
                             % self.failing, calls=0)
        if self.use_feedback:
            prior_flat = np.ascontiguousarray(prior, np.float32).reshape(-1)
        else:
            prior_flat = self._zeros
        calls = 1
        if self.has_prior_input is False:
            result = self.run([image])
            ms = result.ms
        else:
            result = self.run([image, prior_flat])
            ms = result.ms
            if self.has_prior_input is None and not result.ok:
                single = self.run([image])
                calls = 2
                ms += single.ms
                if single.ok:
                    self.has_prior_input = False
                    log.info("%s model: no prev_alpha input (2 inputs fail, 1 works); "
                             "running without temporal feedback" % self.name)
                    result = single
        if not result.ok:
            return self._no_output(result.error, calls, ms)
        self.failing, self._retry_at, self._retry_s = 0, None, RETRY_FIRST_S
        if self.has_prior_input is None:
            self.has_prior_input = True
            log.info("%s model: prev_alpha input found; temporal feedback %s"
                     % (self.name, "on" if self.use_feedback else "off (zeros)"))
        outputs = result.value
        if len(outputs) == 0:
            return self.fail("infer returned no outputs", calls, ms)
        out = np.asarray(outputs[0])
        if out.size != self.width * self.height:
            return self.fail("output has %d values, expected %dx%d = %d"
                             % (out.size, self.width, self.height,
                                self.width * self.height), calls, ms)
        alpha = self.alpha
        if out.dtype == np.float32:  # the device's and the simulator's: clipped into alpha
            out = out.reshape(self.height, self.width)
            if not all_finite(out):
                return self.fail("output has NaN/inf values", calls, ms)
            np.clip(out, 0.0, 1.0, out=alpha)
            return Inference(alpha, calls=calls, ms=ms)
        np.copyto(alpha, out.reshape(self.height, self.width), casting="unsafe")
        if not np.isfinite(alpha).all():
            return self.fail("output has NaN/inf values", calls, ms)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        return Inference(alpha, calls=calls, ms=ms)

    def _no_output(self, error: str, calls: int, ms: float) -> Inference:
        """A call that gave no output: logged, and the model backed off when it never worked
        or keeps failing."""
        self.failing += 1
        never_worked = self.has_prior_input is None
        if not never_worked and self.failing < FAILURES_BEFORE_BACKOFF:
            return self.fail(error, calls, ms)
        wait = self._retry_s
        self._retry_at = self.clock() + wait
        self._retry_s = min(wait * 2.0, RETRY_MAX_S)
        if never_worked and not self._explained and "error code" in error:
            self._explained = True  # once, not throttled: the line that says what to fix
            code = error.split(" for what was sent")[0].split()[-1]
            log.error("%s model refused what was sent (error %s, also without prev_alpha): "
                      "%s. model_width/model_height must be the .om's input size (its log "
                      "line inputTensorVec... size=)" % (self.name, code, self.expects))
            return Inference(None, error, calls, ms)
        return self.fail("%s; %d frame(s) in a row, next try in %.0f s"
                         % (error, self.failing, wait), calls, ms)
