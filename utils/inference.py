"""The model wrapper: feeds NV21 (and the prior), checks what comes back.

hilens.Model.infer takes a list of flat uint8/float32 arrays and returns a list of flat
float arrays, or an int error code when an input's size does not match the model (also
when the number of inputs is wrong). The wrapper
- finds out on the first frame whether the model has a prev_alpha input: it tries
  [image, prior]; if that returns an error code and [image] alone works, it is a model
  without feedback (logged once) and gets one input from then on;
- turns error codes, exceptions, outputs of the wrong size and NaN/inf values into
  `None` with a rate-limited log line, so the caller shows the untouched frame;
- clips the alpha to [0, 1] (an unclipped sigmoid-free head must not overflow uint8).
"""
import numpy as np

from utils import log


class MattingModel(object):
    def __init__(self, model, width, height, feedback=True):
        self.model = model
        self.width = int(width)
        self.height = int(height)
        self.use_feedback = bool(feedback)
        self.has_prior_input = None  # unknown until the first successful inference
        self.failures = 0
        self.last_error = None
        self._throttle = log.Throttle(5.0)
        self._zeros = np.zeros(self.width * self.height, np.float32)
        self.alpha = np.empty((self.height, self.width), np.float32)

    def _expected(self):
        return ("image NV21 uint8 %d bytes (%dx%d) + prev_alpha float32 %d values"
                % (self.width * self.height * 3 // 2, self.width, self.height,
                   self.width * self.height))

    def _fail(self, msg):
        self.failures += 1
        self.last_error = msg
        self._throttle("error", "model: " + msg)
        return None

    def _call(self, inputs):
        try:
            return self.model.infer(inputs)
        except Exception as e:  # ValueError for bad dtypes, device errors
            return e

    def infer(self, small_nv21, prior):
        """small_nv21: (h*3/2, w) uint8; prior: (h, w) float32. Returns the alpha as a
        float32 (h, w) array (reused between calls) or None when inference failed."""
        image = np.ascontiguousarray(small_nv21).reshape(-1)
        if image.size != self.width * self.height * 3 // 2 or image.dtype != np.uint8:
            return self._fail("model-size frame has %d %s values, expected %s"
                              % (image.size, image.dtype, self._expected()))
        if self.use_feedback:
            prior_flat = np.ascontiguousarray(prior, np.float32).reshape(-1)
        else:
            prior_flat = self._zeros
        if self.has_prior_input is False:
            result = self._call([image])
        else:
            result = self._call([image, prior_flat])
            if self.has_prior_input is None and not isinstance(result, (list, tuple)):
                single = self._call([image])
                if isinstance(single, (list, tuple)):
                    self.has_prior_input = False
                    log.info("model: no prev_alpha input (2 inputs gave %r, 1 works); "
                             "running without temporal feedback" % (result,))
                    result = single
        if isinstance(result, Exception):
            return self._fail("infer raised %s: %s" % (type(result).__name__, result))
        if not isinstance(result, (list, tuple)):
            return self._fail("infer returned error code %r; expected inputs: %s"
                              % (result, self._expected()))
        if self.has_prior_input is None:
            self.has_prior_input = True
            log.info("model: prev_alpha input found; temporal feedback %s"
                     % ("on" if self.use_feedback else "off (zeros)"))
        if len(result) == 0:
            return self._fail("infer returned no outputs")
        out = np.asarray(result[0])
        if out.size != self.width * self.height:
            return self._fail("output has %d values, expected %dx%d = %d"
                              % (out.size, self.width, self.height,
                                 self.width * self.height))
        alpha = self.alpha
        np.copyto(alpha, out.reshape(self.height, self.width), casting="unsafe")
        if not np.isfinite(alpha).all():
            return self._fail("output has NaN/inf values")
        np.clip(alpha, 0.0, 1.0, out=alpha)
        return alpha
