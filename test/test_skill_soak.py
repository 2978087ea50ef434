"""Soak: 5,000 frames through the loop main.py runs (simulated camera with loop, hilens
Preprocessor and Model, FramePipeline, Display), resident memory must stay flat."""
import os

import numpy as np

import hilens
import main
from utils.camera import open_source
from utils.pipeline import FramePipeline, hardware_resizer

from test_skill_support import make_skill_dir, small_cfg, write_clip

FRAMES = 5000
WARMUP = 500
LIMIT_MB = 20.0


def rss_mb():
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2.0 ** 20


def test_soak_5000_frames_memory_is_flat(tmp_path):
    om = make_skill_dir(tmp_path)
    clip = write_clip(tmp_path / "clip.mp4", 320, 180, 40)
    assert hilens.init(main.VERIFY) == 0
    try:
        model = hilens.Model(om)
        source = open_source(clip, hilens.VideoCapture, loop=True)
        display = hilens.Display(hilens.H264_FILE, str(tmp_path / "soak.mp4"))
        pipeline = FramePipeline(small_cfg(background="blur"), model, hardware_resizer())
        rss = []
        failed = 0
        for i in range(FRAMES):
            frame = source.read()
            assert frame is not None
            if i % 500 == 250:  # a fault now and then: the recovery path must not leak
                frame = frame.copy()
                pipeline.model.model = _Failing(pipeline.model.model)
            result = pipeline.process(frame)
            failed += not result.ok
            assert display.show(result.output) == 0
            if isinstance(pipeline.model.model, _Failing):
                pipeline.model.model = pipeline.model.model.inner
            if i == WARMUP or i == FRAMES - 1:
                rss.append(rss_mb())
        growth = rss[1] - rss[0]
        print("RSS after warm-up %.1f MB, at the end %.1f MB, growth %.2f MB"
              % (rss[0], rss[1], growth))
        assert growth < LIMIT_MB
        assert failed == FRAMES // 500
        assert source.frames == FRAMES
    finally:
        hilens.terminate()


class _Failing(object):
    """Wraps a model and answers one inference with NaNs."""

    def __init__(self, inner):
        self.inner = inner

    def infer(self, inputs):
        out = self.inner.infer(inputs)
        return [np.full_like(out[0], np.nan)]
