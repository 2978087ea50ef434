#!/usr/bin/env python3
"""Real-time portrait matting skill for HiLens Kit: camera -> matting -> new background -> HDMI.

On the device HiLens calls run(work_path); the configuration comes from the console
(hilens.get_skill_config()). On a PC the same code runs through the `hilens` simulator:

    python main.py                       # built-in camera -> HDMI: on the simulator test/cameras0.mp4
                                         # -> hdmi_output.mp4, on repeat like a camera
    python main.py --input clip.mp4 --output out.mp4 --background blur --alpha-out out/alpha
    python main.py --help                # every flag = a config key

Everything between reading a frame and showing it is utils.pipeline.FramePipeline, which
returns one FrameResult per frame; this file only wires the source, the pipeline and the
outputs, and hands each result to utils.report.

Stopping and exit status: SIGTERM, SIGHUP (a service manager, `timeout`, a closed terminal)
and Ctrl-C end the loop after the frame in hand, like the end of a file, so the output is
finalised by hilens.terminate() and holds every frame counted as shown; a second Ctrl-C
interrupts at once. run() returns 0 only when frames were shown, every one of them reached the
outputs and hilens.terminate() reports success; 1 when the run lost or showed nothing (an
ERROR line says why); 2 when it could not start.
"""
import os
import signal
import sys
import threading
import time

import hilens
from utils import config, log, report
from utils.camera import open_source
from utils.output import AlphaWriter, Shown, open_display, overwrites
from utils.pipeline import STAGES, open_pipeline

# Must equal the check value typed when the skill was created in the HiLens console.
VERIFY = "matting"
# An unexpected error on every frame for this long (10 s at 25 frames/s) ends the run.
MAX_CONSECUTIVE_CRASHES = 250
# On a PC a live camera that delivers nothing for this long ends the run; the device waits.
PC_CAMERA_GIVE_UP_S = 10.0
STOP_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")


class StopRequest(object):
    """A stop asked for by a signal, checked once per frame by the loop (and by the camera
    while it waits for a source): the frame in hand is finished and counted, then the run
    ends as at the end of a file. Raising from the handler instead could leave a frame in
    the recording that was never counted. Calling the object says whether a stop is due."""

    def __init__(self):
        self.signal_name = ""
        self._previous = {}

    def __call__(self) -> bool:
        return bool(self.signal_name)

    def _handle(self, signum, frame):
        if self.signal_name and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user does not want to wait
        if not self.signal_name:
            self.signal_name = signal.Signals(signum).name

    def install(self):
        """Handlers for STOP_SIGNALS (main thread only, Python's rule); one that is ignored
        (SIG_IGN, e.g. SIGHUP under nohup) stays ignored."""
        if threading.current_thread() is not threading.main_thread():
            return
        for name in STOP_SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                if signal.getsignal(sig) is signal.SIG_IGN:
                    continue
                self._previous[sig] = signal.signal(sig, self._handle)
            except (OSError, RuntimeError, ValueError):
                pass

    def restore(self):
        for sig, old in self._previous.items():
            try:
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
            except (OSError, RuntimeError, ValueError):
                pass
        self._previous = {}


def model_dir():
    """hilens.get_model_dir(), or None where the framework cannot say."""
    try:
        return hilens.get_model_dir()
    except Exception:
        return None


def open_stages(cfg, give_up_after=None, should_stop=None):
    """(source, pipeline, display) for the config, or None after one error line naming what
    could not be opened."""
    try:
        source = open_source(cfg.input, hilens.VideoCapture, loop=cfg.loop,
                             give_up_after=give_up_after, should_stop=should_stop)
    except ValueError as e:
        log.error("input: %s" % e)
        return None
    try:
        pipeline = open_pipeline(cfg)
    except ValueError as e:
        log.error("model: %s" % e)
        source.close()
        return None
    try:
        display = open_display(cfg.output, hilens)
    except Exception as e:
        log.error("output: cannot open %r (%s: %s)" % (cfg.output, type(e).__name__, e))
        source.close()
        pipeline.close()
        return None
    return source, pipeline, display


def run(work_path, argv=None):
    """The HiLens entry point. argv (a list) selects PC mode with command-line flags."""
    rc = hilens.init(VERIFY)
    if rc != 0:
        log.error("hilens.init failed with %r (check value must be %r)" % (rc, VERIFY))
        return 1
    stop = StopRequest()
    stop.install()  # before any display exists, so the skill's handlers are the ones used
    opened = []  # the display lives until terminate(), which says whether it was finalised
    try:
        try:
            rc = _run(work_path, argv, stop, opened)
        finally:
            done = hilens.terminate()  # finalises the displays (the recording's index)
            del opened[:]
        if done not in (0, None):
            log.error("output incomplete: hilens.terminate() returned %r (the output could "
                      "not be finalised; the lines above say why)" % (done,))
            rc = rc or 1
        return rc
    finally:
        stop.restore()


def _run(work_path, argv, stop, opened):
    cfg = config.load_config(hilens.get_skill_config(), argv, base_dir=work_path,
                             model_dir=model_dir())
    problems = overwrites(cfg)
    for text in problems:
        log.error(text)
    if problems:
        return 2
    try:
        alpha = AlphaWriter(cfg.alpha_out)
    except ValueError as e:
        log.error("alpha_out: %s" % e)
        return 2
    stages = open_stages(cfg, give_up_after=PC_CAMERA_GIVE_UP_S if argv is not None else None,
                         should_stop=stop)
    if stages is None:
        return 2
    source, pipeline, display = stages
    opened.append(display)
    log.info("matting: input %r, segmenter %s, model %s %dx%d, background %r, view %s, "
             "output %r" % (cfg.input or "built-in camera", pipeline.segmenter, cfg.model,
                            cfg.model_width, cfg.model_height, cfg.background, cfg.view,
                            cfg.output))
    stats = report.Stats(("read",) + STAGES + ("show", "total"))
    progress = report.Progress(cfg.progress)
    presence = report.PresenceWatch()
    shown = Shown(display, cfg.output)
    try:
        loop(cfg, source, pipeline, shown, alpha, stats, progress, presence, stop)
    except KeyboardInterrupt:
        log.info("stopped by the user")
    finally:
        progress.close(stats)
        source.close()
        pipeline.close()
    if stop():
        log.info("stopped by %s after %d frame(s)" % (stop.signal_name, stats.frames))
    lines = stats.summary_lines() + [stats.models_line(), shown.summary()]
    if alpha.enabled:
        lines.append(alpha.summary())
    for text in lines:
        if argv is not None:
            print("summary: " + text)  # PC: stdout, so scripts can read it
        else:
            log.info("summary: " + text)  # the device has only the log
    sys.stdout.flush()
    return outcome(stats, shown, alpha)


def outcome(stats, shown, alpha):
    """0 when frames were shown, every processed frame reached the outputs and inference
    worked at least once; else 1, after one ERROR line per reason."""
    problems = []
    if stats.frames == 0:
        problems.append("no frame was processed")
    elif shown.shown == 0:
        problems.append("no frame was shown: the output %s refused all %d (show returned %s)"
                        % (shown.name, shown.not_shown, shown.codes()))
    elif shown.not_shown:
        problems.append("output incomplete: %d of %d frame(s) were not shown on %s (show "
                        "returned %s)" % (shown.not_shown, stats.frames, shown.name,
                                          shown.codes()))
    if stats.frames and stats.failed == stats.frames:
        problems.append("inference failed on every frame (%d): the output shows the input "
                        "untouched" % stats.frames)
    if alpha.failed:
        problems.append("alpha PNGs incomplete: %d of %d not written to %s (%s)"
                        % (alpha.failed, alpha.failed + alpha.written, alpha.folder,
                           alpha.last_error))
    for text in problems:
        log.error(text)
    return 1 if problems else 0


def loop(cfg, source, pipeline, shown, alpha, stats, progress, presence, stop):
    """Read, process, show (and write the alpha) until the source ends, `max_frames` is
    reached, a stop is requested or unexpected errors persist. A bad frame is skipped,
    never fatal."""
    frame_log = log.Throttle(5.0)
    index = -1  # input frame index (names the alpha PNGs)
    crashes = 0
    last_report = time.perf_counter()
    while not stop():
        t0 = time.perf_counter()
        frame = source.read()
        if frame is None:
            return
        index += 1
        t1 = time.perf_counter()
        try:
            result = pipeline.process(frame)
            crashes = 0
        except ValueError as e:  # a frame that is not NV21/BGR of a usable size
            stats.skip()
            frame_log("warning", "frame %d skipped: %s" % (index, e))
            continue
        except Exception as e:  # anything else: keep the live loop going, but not for ever
            stats.skip()
            crashes += 1
            frame_log("error", "frame %d failed: %s: %s" % (index, type(e).__name__, e))
            if crashes >= MAX_CONSECUTIVE_CRASHES:
                log.error("stopping: %d frames in a row failed" % crashes)
                return
            continue
        t2 = time.perf_counter()
        shown.show(result.output)
        t3 = time.perf_counter()
        if alpha.enabled:
            alpha.write(index, result.alpha)
        ms = dict(read=(t1 - t0) * 1000.0, **result.stage_ms)
        ms.update(show=(t3 - t2) * 1000.0, total=(time.perf_counter() - t0) * 1000.0)
        stats.add(ms, result.ok, result.resets, result.calls, result.model_ms, result.people,
                  result.events)
        presence.update(result.alpha, result.ok)
        progress.update(stats)
        if cfg.stats_interval > 0 and t3 - last_report >= cfg.stats_interval:
            last_report = t3
            log.info("stats: " + stats.window_line())
            nobody = presence.line()
            if nobody:
                log.warning(nobody)
        if cfg.max_frames and stats.frames >= cfg.max_frames:
            return


def main(argv=None):
    work_path = os.path.dirname(os.path.abspath(__file__))
    return run(work_path, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
