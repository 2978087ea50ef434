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
display, and hands each result to utils.report.
"""
import os
import sys
import time

import cv2
import hilens

from utils import config, log, nv21, report
from utils.camera import open_source
from utils.pipeline import STAGES, open_pipeline

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


def open_stages(cfg, give_up_after=None):
    """(source, pipeline, display) for the config, or None after one error line naming what
    could not be opened. Makes the alpha PNG folder."""
    try:
        source = open_source(cfg.input, hilens.VideoCapture, loop=cfg.loop,
                             give_up_after=give_up_after)
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
        display = open_display(cfg.output)
    except Exception as e:
        log.error("output: cannot open %r (%s: %s)" % (cfg.output, type(e).__name__, e))
        source.close()
        return None
    if cfg.alpha_out and not os.path.isdir(cfg.alpha_out):
        os.makedirs(cfg.alpha_out)
    return source, pipeline, display


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
    stages = open_stages(cfg, give_up_after=PC_CAMERA_GIVE_UP_S if argv else None)
    if stages is None:
        return 2
    source, pipeline, display = stages
    log.info("matting: input %r, model %s %dx%d, background %r, view %s, output %r"
             % (cfg.input or "built-in camera", cfg.model, cfg.model_width, cfg.model_height,
                cfg.background, cfg.view, cfg.output))
    stats = report.Stats(("read",) + STAGES + ("show", "total"))
    progress = report.Progress(cfg.progress)
    try:
        loop(cfg, source, pipeline, display, stats, progress)
    except KeyboardInterrupt:
        log.info("stopped by the user")
    finally:
        progress.close(stats)
        source.close()
        pipeline.close()
    for text in stats.summary_lines():
        if argv is not None:
            print("summary: " + text)  # PC: stdout, so scripts can read it
        else:
            log.info("summary: " + text)  # the device has only the log
    if stats.frames == 0:
        log.error("no frame was processed")
        return 1
    return 0


def loop(cfg, source, pipeline, display, stats, progress):
    """Read, process, show (and write the alpha) until the source ends, `max_frames` is
    reached or unexpected errors persist. A bad frame is skipped, never fatal."""
    frame_log = log.Throttle(5.0)
    show_log = log.Throttle(5.0)
    index = -1  # input frame index (names the alpha PNGs)
    crashes = 0
    last_report = time.perf_counter()
    while True:
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
        ret = display.show(result.output)
        if ret not in (None, 0):
            show_log("error", "output: show returned %r for a %dx%d frame"
                     % ((ret,) + nv21.nv21_size(result.output)))
        t3 = time.perf_counter()
        if cfg.alpha_out:
            cv2.imwrite(os.path.join(cfg.alpha_out, "%06d.png" % index), result.alpha)
        ms = dict(read=(t1 - t0) * 1000.0, **result.stage_ms)
        ms.update(show=(t3 - t2) * 1000.0, total=(time.perf_counter() - t0) * 1000.0)
        stats.add(ms, result.ok, result.resets)
        progress.update(stats)
        if cfg.stats_interval > 0 and t3 - last_report >= cfg.stats_interval:
            last_report = t3
            log.info("stats: " + stats.window_line())
        if cfg.max_frames and stats.frames >= cfg.max_frames:
            return


def main(argv=None):
    work_path = os.path.dirname(os.path.abspath(__file__))
    return run(work_path, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
