"""Feedback vs per-frame inference on a real clip: empty-room alpha and frame-to-frame change.

    .venv/bin/python -m tools.evaluate.video_feedback_report --model model/matting.onnx \
        --model model/matting_trained.onnx [--json out/video_report.json]

Default clip: ../shared/data/videos/one-by-one-person-detection.mp4 (Intel sample-videos,
CC BY 4.0; 768x432, 10 fps, 1394 frames; a static camera on a room that people enter one at a
time, stand at a table and leave). Read in place, every frame used. Each frame is stretched to
the model size with cv2.INTER_LINEAR (as the skill's Preprocessor does) and run through ONNX
Runtime on the RGB that aipp.cfg's normalisation gives; a feedback model runs twice, with its own
previous alpha as prev_alpha ("feedback") and with zeros ("zeros prev").

Empty-room frames (no ground truth comes with the clip, so they are found and then checked by
eye): at 256x144 after a Gaussian blur (sigma 2), a pixel "differs" when any channel is more than
30 grey levels away from frame 0 (an empty room); a frame is empty when under 0.2 % of its pixels
differ, and so are the EMPTY_MARGIN frames on each side (so the frames where a foot or shoulder
is still in view are not counted). On this clip that gives the runs before the first visitor and
between visitors (printed). Frame 0 being empty was checked by looking at it.

Reported per model and mode, alpha at model size in [0, 1]:
- empty a: mean alpha over the empty-room frames (should be ~0);
- exit a1..3: mean alpha on the 1st/2nd/3rd frame after each person left (the first frames of
  each empty run that follows a person), averaged over the exits;
- d all: mean over frame pairs of mean |alpha_t - alpha_{t-1}| (all frames);
- d still: the same over pairs where the picture itself hardly changes (mean absolute grey
  difference of the two frames < STILL_DIFF grey levels) and a person is present: people
  standing at the table, where any alpha change is flicker;
- d empty: the same over pairs of empty frames.
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np

from tools import paths
from tools.evaluate import seg_metrics as sm
from tools.evaluate.seg_runners import DEFAULT_AIPP, OnnxRgbRunner, resize_to_model

DEFAULT_VIDEO = str(paths.video('one-by-one-person-detection.mp4'))
DIFF_LEVEL = 30
EMPTY_FRACTION = 0.002
EMPTY_MARGIN = 3
STILL_DIFF = 2.0

# this report's table: key -> (header, format), in column order (seg_metrics.COLUMNS is left
# as it is, so importing this module changes no other tool's tables)
COLUMNS = {
    'empty_alpha': ('empty a', '{:.4f}'),
    'exit_a1': ('exit a1', '{:.4f}'),
    'exit_a2': ('exit a2', '{:.4f}'),
    'exit_a3': ('exit a3', '{:.4f}'),
    'd_all': ('d all e-3', '{:.2f}'),
    'd_still': ('d still e-3', '{:.2f}'),
    'd_empty': ('d empty e-3', '{:.2f}'),
}


def read_frames(path, size):
    """All frames of `path`, each stretched to size (w, h) with INTER_LINEAR, BGR uint8."""
    if not os.path.isfile(path):
        raise FileNotFoundError('video not found: %s%s' % (path, paths.data_hint(path)))
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(resize_to_model(frame, size[0], size[1], 'linear'))
    cap.release()
    if len(frames) < 2:
        raise ValueError('video %s: expected at least 2 readable frames, got %d'
                         % (path, len(frames)))
    return np.stack(frames)


def empty_frames(frames, reference=0):
    """Boolean per frame: the room looks like frame `reference` (see module docstring)."""
    blur = lambda f: cv2.GaussianBlur(f.astype(np.float32), (0, 0), 2.0)  # noqa: E731
    ref = blur(frames[reference])
    frac = np.array([(np.abs(blur(f) - ref).max(axis=2) > DIFF_LEVEL).mean() for f in frames])
    quiet = frac < EMPTY_FRACTION
    # erode the runs by EMPTY_MARGIN frames on each side
    k = 2 * EMPTY_MARGIN + 1
    padded = np.pad(quiet, EMPTY_MARGIN, constant_values=True)
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)
    return windows.all(axis=1)


def runs_of(mask):
    """[(start, end)] of the True runs of a boolean array (end exclusive)."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def still_pairs(frames, empty):
    """Boolean per frame t >= 1: frames t-1 and t barely differ and neither is empty."""
    diff = np.abs(frames[1:].astype(np.int16) - frames[:-1]).mean(axis=(1, 2, 3))
    return (diff < STILL_DIFF) & ~empty[1:] & ~empty[:-1]


def run_model(runner, frames, feedback):
    """Alpha (T x h x w float32) of every frame; feedback feeds each alpha to the next frame."""
    w, h = runner.size
    prev = np.zeros((h, w), np.float32)
    out = np.empty((len(frames), h, w), np.float32)
    for t, f in enumerate(frames):
        a = np.clip(runner(f, prev if runner.feedback else None), 0, 1)
        out[t] = a
        if feedback:
            prev = a
    return out


def report(alphas, empty, still):
    change = np.abs(np.diff(alphas, axis=0)).mean(axis=(1, 2))
    means = alphas.mean(axis=(1, 2))
    exits = [(s, e) for s, e in runs_of(empty) if s > 0]
    # runs of empty frames as found are EMPTY_MARGIN frames in from the real exit; the exit
    # columns use the raw start (the first frame without anyone), so re-extend each run
    out = {'empty_alpha': float(means[empty].mean()),
           'd_all': float(change.mean()) * 1e3,
           'd_still': float(change[still].mean()) * 1e3 if still.any() else float('nan'),
           'd_empty': float(change[empty[1:] & empty[:-1]].mean()) * 1e3}
    for k in range(3):
        vals = [means[s - EMPTY_MARGIN + k] for s, _ in exits if s - EMPTY_MARGIN + k < len(means)]
        out['exit_a%d' % (k + 1)] = float(np.mean(vals)) if vals else float('nan')
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', action='append', required=True, help='model-contract ONNX file')
    p.add_argument('--video', default=DEFAULT_VIDEO)
    p.add_argument('--aipp', default=DEFAULT_AIPP)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--json', help='write the results here')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    runners = [OnnxRgbRunner(m, args.aipp, args.threads) for m in args.model]
    sizes = {r.size for r in runners}
    if len(sizes) != 1:
        raise ValueError('all --model files must have the same input size, got %s'
                         % sorted(sizes))
    frames = read_frames(args.video, sizes.pop())
    empty = empty_frames(frames)
    still = still_pairs(frames, empty)
    runs = runs_of(empty)
    print('%s: %d frames; %d empty-room frames in runs %s; %d still person pairs'
          % (os.path.basename(args.video), len(frames), int(empty.sum()),
             ', '.join('%d-%d' % (s, e - 1) for s, e in runs), int(still.sum())))
    results = []
    for r in runners:
        modes = [True, False] if r.feedback else [False]
        for fb in modes:
            tag = 'feedback' if fb else ('zeros prev' if r.feedback else 'no prev input')
            res = report(run_model(r, frames, fb), empty, still)
            results.append(('%s [%s]' % (r.name, tag), res))
    print(sm.format_table(results, tuple(COLUMNS), spec=COLUMNS))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'empty_runs': [[int(s), int(e)] for s, e in runs],
                       'results': {n: r for n, r in results}}, f, indent=1)
    return results


if __name__ == '__main__':
    try:
        main()
    except (OSError, ValueError) as exc:
        raise SystemExit('%s: error: %s' % (os.path.basename(sys.argv[0]), exc))
