#!/usr/bin/env python3
"""Real-time portrait matting skill for HiLens Kit: camera -> matting -> new background -> HDMI.

On the device HiLens calls run(work_path); the configuration comes from the console
(hilens.get_skill_config()). On a PC the same code runs through the `hilens` simulator:

    python main.py                       # built-in camera -> HDMI: on the simulator test/cameras0.mp4
                                         # -> hdmi_output.mp4, on repeat like a camera
    python main.py --input clip.mp4 --output out.mp4 --background blur --alpha-out out/alpha
    python main.py --help                # every flag = a config key

Everything between reading a frame and showing it is utils.pipeline.FramePipeline; this
file only wires the source, the model and the display, and reports timings.
"""
import os
import sys
import time

import cv2
import hilens

from utils import config, log
from utils.camera import open_source
from utils.pipeline import STAGES, FramePipeline

# Must equal the check value typed when the skill was created in the HiLens console.
VERIFY = "matting"
# An unexpected error on every frame for this long (10 s at 25 frames/s) ends the run.
MAX_CONSECUTIVE_CRASHES = 250
# On a PC a live camera that delivers nothing for this long ends the run; the device waits.
PC_CAMERA_GIVE_UP_S = 10.0


def open_display(spec):
    """hilens.Display for an `output` value (a file name comes resolved by load_config)."""
    if spec.lower() == "hdmi":
        return hilens.Display(hilens.HDMI)
    if spec.lower().startswith("rtmp://"):
        return hilens.Display(hilens.RTMP, spec)
    folder = os.path.dirname(os.path.abspath(spec))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    return hilens.Display(hilens.H264_FILE, spec)


def model_dir():
    """hilens.get_model_dir(), or None where the framework cannot say."""
    try:
        return hilens.get_model_dir()
    except Exception:
        return None


def make_resizer():
    pre = hilens.Preprocessor()

    def resize(src, w, h):
        return pre.resize(src, w, h, 0)
    return resize


class Stats(object):
    """Mean ms per stage over the whole run and over the last log interval."""

    NAMES = ("read",) + STAGES + ("show", "total")

    def __init__(self):
        self.total = dict((n, 0.0) for n in self.NAMES)
        self.window = dict((n, 0.0) for n in self.NAMES)
        self.frames = 0
        self.window_frames = 0
        self.start = time.perf_counter()
        self.window_start = self.start

    def add(self, ms):
        for n in self.NAMES:
            self.total[n] += ms.get(n, 0.0)
            self.window[n] += ms.get(n, 0.0)
        self.frames += 1
        self.window_frames += 1

    @staticmethod
    def line(sums, frames, seconds):
        fps = frames / seconds if seconds > 0 else 0.0
        means = ", ".join("%s %.2f" % (n, sums[n] / max(frames, 1)) for n in Stats.NAMES)
        return "%d frames, %.1f fps; mean ms/frame: %s" % (frames, fps, means)

    def window_line(self):
        now = time.perf_counter()
        text = self.line(self.window, self.window_frames, now - self.window_start)
        self.window = dict((n, 0.0) for n in self.NAMES)
        self.window_frames = 0
        self.window_start = now
        return text

    def summary_line(self):
        return self.line(self.total, self.frames, time.perf_counter() - self.start)


class Progress(object):
    """Frames and frames/s on stderr (PC only; no tqdm on the device path): one line
    rewritten in place on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, enabled, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = 0.25 if self.tty else 5.0
        self.last = time.perf_counter()
        self.shown = False
        if enabled and self.tty:
            log.listeners.append(self._clear)

    def _clear(self, level, msg):
        # a log line must not be glued to the end of the progress line
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.shown = False

    def update(self, frames, stats, force=False):
        now = time.perf_counter()
        if not self.enabled or (not force and now - self.last < self.every_s):
            return
        self.last = now
        secs = now - stats.start
        fps = frames / secs if secs > 0 else 0.0
        ms = stats.total["total"] / max(stats.frames, 1)
        text = "frame %d | %.1f frames/s | %.1f ms/frame" % (frames, fps, ms)
        if self.tty:
            self.stream.write("\r" + text + " ")
            self.shown = True
        else:
            self.stream.write("progress: " + text + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            if self.shown:
                self.stream.write("\n")
                self.stream.flush()
            if self._clear in log.listeners:
                log.listeners.remove(self._clear)


def run(work_path, argv=None):
    """The HiLens entry point. argv (a list) selects PC mode with command-line flags."""
    rc = hilens.init(VERIFY)
    if rc != 0:
        log.error("hilens.init failed with %r (check value must be %r)" % (rc, VERIFY))
        return 1
    try:
        return _run(work_path, argv)
    finally:
        hilens.terminate()


def _run(work_path, argv):
    cfg = config.load_config(hilens.get_skill_config(), argv, base_dir=work_path,
                             model_dir=model_dir())
    try:
        source = open_source(cfg.input, hilens.VideoCapture, loop=cfg.loop,
                             give_up_after=PC_CAMERA_GIVE_UP_S if argv else None)
    except ValueError as e:
        log.error("input: %s" % e)
        return 2
    try:
        model = hilens.Model(cfg.model)
    except Exception as e:  # hilens.CreateError
        log.error("model: cannot load %s (%s: %s)" % (cfg.model, type(e).__name__, e))
        return 2
    try:
        display = open_display(cfg.output)
    except Exception as e:
        log.error("output: cannot open %r (%s: %s)" % (cfg.output, type(e).__name__, e))
        return 2
    alpha_dir = cfg.alpha_out
    if alpha_dir and not os.path.isdir(alpha_dir):
        os.makedirs(alpha_dir)
    pipeline = FramePipeline(cfg, model, make_resizer())
    log.info("matting: input %r, model %s %dx%d, background %r, view %s, output %r"
             % (cfg.input or "built-in camera", cfg.model, cfg.model_width, cfg.model_height,
                cfg.background, cfg.view, cfg.output))

    stats = Stats()
    progress = Progress(cfg.progress)
    bad_frame_log = log.Throttle(5.0)
    show_log = log.Throttle(5.0)
    index = -1  # input frame index (names the alpha PNGs)
    skipped = 0
    crashes = 0
    last_report = time.perf_counter()
    try:
        while True:
            t0 = time.perf_counter()
            frame = source.read()
            if frame is None:
                break
            index += 1
            t1 = time.perf_counter()
            try:
                out = pipeline.process(frame)
                crashes = 0
            except ValueError as e:  # a frame that is not NV21/BGR of a usable size
                skipped += 1
                bad_frame_log("warning", "frame %d skipped: %s" % (index, e))
                continue
            except Exception as e:  # anything else: keep the live loop going, but not for ever
                skipped += 1
                crashes += 1
                bad_frame_log("error", "frame %d failed: %s: %s" % (index, type(e).__name__, e))
                if crashes >= MAX_CONSECUTIVE_CRASHES:
                    log.error("stopping: %d frames in a row failed" % crashes)
                    break
                continue
            t2 = time.perf_counter()
            ret = display.show(out)
            if ret not in (None, 0):
                show_log("error", "output: show returned %r for a %dx%d frame"
                         % ((ret,) + pipeline.display_size))
            t3 = time.perf_counter()
            if alpha_dir:
                cv2.imwrite(os.path.join(alpha_dir, "%06d.png" % index), pipeline.alpha_full)
            ms = dict(pipeline.stage_ms)
            ms.update(read=(t1 - t0) * 1000.0, show=(t3 - t2) * 1000.0,
                      total=(time.perf_counter() - t0) * 1000.0)
            stats.add(ms)
            progress.update(stats.frames, stats)
            if cfg.stats_interval > 0 and t3 - last_report >= cfg.stats_interval:
                last_report = t3
                log.info("stats: " + stats.window_line())
            if cfg.max_frames and stats.frames >= cfg.max_frames:
                break
    except KeyboardInterrupt:
        log.info("stopped by the user")
    finally:
        progress.update(stats.frames, stats, force=True)
        progress.close()
        source.close()
        pipeline.close()

    resets = pipeline.state.resets
    lines = ["summary: " + stats.summary_line(),
             "summary: %d frames skipped, %d shown untouched (inference failed); prior "
             "resets: %s" % (skipped, pipeline.failed,
                             ", ".join("%s %d" % kv for kv in sorted(resets.items())) or "none")]
    for text in lines:
        if argv is not None:
            print(text)  # PC: stdout, so scripts can read it; the device has only the log
        else:
            log.info(text)
    if stats.frames == 0:
        log.error("no frame was processed")
        return 1
    return 0


def main(argv=None):
    work_path = os.path.dirname(os.path.abspath(__file__))
    return run(work_path, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
