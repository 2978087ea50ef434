"""Evaluate model-contract segmentation ONNX models on photos with masks, and over time.

Image benchmark (default): every image/mask pair of a folder laid out like
../shared/data/hsd (images/NNN.jpg, masks/NNN.png) goes through

    BGR image -> resize to the model's W x H (stretched, INTER_LINEAR)
      --path aipp: -> NV21 (hilens.cvt_color) -> hilens.Model.infer([nv21, prev])  (device path)
      --path rgb:  -> RGB normalised as aipp.cfg says -> ONNX Runtime               (no NV21)
    -> alpha at model size -> cv2.resize to the image size (INTER_LINEAR)

and is scored with tools/evaluate/seg_metrics.py: foreground IoU, mean IoU (fg/bg), boundary F-score
(DAVIS-style contour F, tolerance 0.0075 x image diagonal), MAE (all per-image means; IoU and
F on alpha >= 0.5, MAE on the raw alpha) and milliseconds per runner call (model input in,
alpha out at model size; includes NV21 -> AIPP emulation on the aipp path). Feedback models get
zeros as prev_alpha. `--resize mediapipe` resizes the way MediaPipe's ImageToTensorCalculator
does (see tools/evaluate/seg_runners.py); `--reference mp.json` (from
tools/evaluate/eval_mediapipe.py --json) adds the per-image IoU difference to that run.

Temporal benchmark (`--temporal`): synthetic sequences from the same photos (tools/
synth_sequence.py: person composited on empty-room plates, slow camera drift, exposure flicker,
sensor noise, person leaving and re-entering; exact GT per frame). Frames go through the same
path; a feedback model gets its own previous alpha at model size as prev_alpha (zeros on the
first frame), or zeros every frame with `--feedback off`. Reported:
- IoU: mean per-frame foreground IoU over frames with a person in the GT;
  IoU rest: the same over frames where the person stands in place (no slide).
- empty a: mean alpha over frames whose GT is empty (should be ~0).
- tErr: temporal error x 1e-3, mean over pixels and frame pairs of
  |(a_t - a_{t-1}) - (g_t - g_{t-1})| at frame size, alpha in [0, 1]; `still` and `moving`:
  the same mean over the frame pairs where the person stands in place and where they slide out
  or in (up to and including the first empty / first resting frame).
- exit rec: frames from the first frame whose GT is empty (person fully out) to the first
  frame with mean alpha < 0.02 (0 = at once). If that never happens before the person returns,
  the number of empty frames is counted and the sequence is listed in `censored`.
- entry rec: frames from the end of the slide-in (person back at rest) to the first frame whose
  IoU >= 0.95 x the steady IoU the model settles to (median IoU over the last half of that
  final rest phase; the same spot and scene, so photo difficulty cancels out); censored at
  the end of the sequence likewise.

Python API (for training loops and other tools):
    from tools.evaluate.eval_seg import evaluate_images, evaluate_temporal
    from tools.evaluate.seg_runners import OnnxRgbRunner, AippRunner, TorchRunner
    r = TorchRunner(net, size=(256, 144), feedback=True)      # or OnnxRgbRunner('m.onnx')
    evaluate_images(r, 'hsd/images', 'hsd/masks', limit=None)  # -> {'fg_iou': .., ...}
    evaluate_temporal(r, image_dir=..., mask_dir=..., n=24, feedback=True)  # -> dict
`evaluate_temporal` also takes prebuilt `sequences`
(tools.evaluate.synth_sequence.make_sequences) so several models see the very same frames.

Controls that say what tErr is made of (temporal benchmark only):
- `--model gt`: the ground truth reduced to the model size, scored like a model's output (a
  perfect network at that resolution);
- `--photometric off`: the same sequences (same people, plates, motion) without exposure
  flicker and sensor noise;
- `--flow-smooth K`: each model without feedback, its alphas passed through motion-compensated
  smoothing (the previous output warped by DIS optical flow and blended with weight 1 - K).

CLI:
    .venv/bin/python -m tools.evaluate.eval_seg --model model/matting.onnx --path both
    .venv/bin/python -m tools.evaluate.eval_seg --model model/matting.onnx --temporal \
        --feedback both
    .venv/bin/python -m tools.evaluate.eval_seg --model model/matting.onnx --model gt --temporal \
        --feedback both --flow-smooth 0.7 --flow-smooth 0.5 [--photometric off]
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np

from tools import paths
from tools.evaluate import seg_metrics as sm
from tools.evaluate import synth_sequence as ss
from tools.evaluate.seg_runners import (DEFAULT_AIPP, RESIZE_MODES, AippRunner,
                                        GroundTruthRunner, OnnxRgbRunner, resize_to_model,
                                        timed)

DEFAULT_DATA = str(paths.hsd())
EXIT_ALPHA = 0.02
ENTRY_FRACTION = 0.95

TEMPORAL_COLUMNS = ('n', 'iou', 'iou_rest', 'empty_alpha', 'tempo_err', 'tempo_err_still',
                    'tempo_err_move', 'exit_recover', 'entry_recover', 'censored', 'ms')


def _alpha_to(alpha_small, w, h):
    a = cv2.resize(np.asarray(alpha_small, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(a, 0.0, 1.0)


def evaluate_images(runner, image_dir, mask_dir, resize='linear', limit=None, per_image=False,
                    threshold=0.5):
    """Mean fg_iou, miou, boundary_f, mae, ms (and n) of `runner` on an image/mask folder.

    With per_image=True the result also holds 'per_image': {stem: metrics}.
    """
    w, h = runner.size
    pairs = sm.list_pairs(image_dir, mask_dir)
    if limit:
        pairs = pairs[:limit]
    rows, times, details = [], [], {}
    zeros = np.zeros((h, w), np.float32) if runner.feedback else None
    for stem, image_path, mask_path in pairs:
        image, gt = sm.read_pair(image_path, mask_path)
        small = resize_to_model(image, w, h, resize)
        alpha_small, ms = timed(runner, small, zeros)
        alpha = _alpha_to(alpha_small, image.shape[1], image.shape[0])
        m = sm.score_image(alpha, gt, threshold)
        rows.append(m)
        times.append(ms)
        details[stem] = m
    out = sm.summarize(rows)
    # The first call pays for lazy allocations; leave it out of the timing when we can.
    out['ms'] = float(np.mean(times[1:] if len(times) > 1 else times))
    if per_image:
        out['per_image'] = details
    return out


class FlowSmoother(object):
    """Motion-compensated exponential smoothing of one track's alphas, a classic temporal filter
    to compare feedback against: the previous output is warped onto the current frame with
    dense optical flow (OpenCV DIS on the model-size picture) and blended,
    out = k * alpha + (1 - k) * warp(out_prev)."""

    def __init__(self, k):
        if not 0.0 < k <= 1.0:
            raise ValueError('flow smoothing weight must be in (0, 1], got %r' % (k,))
        self.k = float(k)
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.grey = None
        self.out = None
        self.grid = None

    def __call__(self, small, alpha):
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        if self.out is None:
            self.out = alpha
        else:
            # For each pixel of this frame: where it was in the previous one.
            flow = self.flow.calc(grey, self.grey, None)
            if self.grid is None:
                h, w = grey.shape
                self.grid = np.meshgrid(np.arange(w, dtype=np.float32),
                                        np.arange(h, dtype=np.float32))
            warped = cv2.remap(self.out, self.grid[0] + flow[..., 0], self.grid[1] + flow[..., 1],
                               cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            self.out = (self.k * alpha + (1.0 - self.k) * warped).astype(np.float32)
        self.grey = grey
        return self.out


class _Track(object):
    """Per-frame state and records of one entry (runner, feedback[, smoothing]) along one
    sequence."""

    def __init__(self, runner, feedback, smooth=None):
        self.runner = runner
        self.feedback = bool(feedback and runner.feedback)
        self.smoother = FlowSmoother(smooth) if smooth else None
        w, h = runner.size
        self.zeros = np.zeros((h, w), np.float32) if runner.feedback else None
        self.prev = self.zeros
        self.last = None
        self.recs = []

    def step(self, small, gt):
        args = (small, self.prev if self.feedback else self.zeros)
        if getattr(self.runner, 'needs_gt', False):
            args += (gt,)
        alpha_small, ms = timed(self.runner, *args)
        alpha_small = np.clip(alpha_small, 0.0, 1.0)
        if self.smoother is not None:
            alpha_small = self.smoother(small, alpha_small)
        if self.feedback:
            self.prev = alpha_small.astype(np.float32)
        alpha = _alpha_to(alpha_small, gt.shape[1], gt.shape[0])
        has_person = bool(gt.any())
        self.recs.append({
            'person': has_person,
            'iou': sm.iou(alpha >= 0.5, gt) if has_person else float('nan'),
            'mean_alpha': float(alpha.mean()),
            'step_err': (sm.temporal_step_error(self.last[0], alpha, self.last[1], gt)
                         if self.last is not None else float('nan')),
            'ms': ms,
        })
        self.last = (alpha, gt)


def run_sequence(entries, seq, resize='linear'):
    """Per-frame records of one sequence for each entry: (runner, feedback) or (runner,
    feedback, k) with k the FlowSmoother weight applied to the runner's alphas.

    Each frame is rendered once and fed to every entry. A record holds iou (nan when the GT
    is empty), mean_alpha, step_err (vs the previous frame; nan on the first) and ms.
    """
    tracks = [_Track(*entry) for entry in entries]
    for frame, gt in seq:
        smalls = {}
        for tr in tracks:
            size = tr.runner.size
            if size not in smalls:
                smalls[size] = resize_to_model(frame, size[0], size[1], resize)
            tr.step(smalls[size], gt)
    return [tr.recs for tr in tracks]


def recovery(recs, events):
    """(exit frames, exit censored, entry frames, entry censored, steady IoU) of one sequence."""
    person = [r['person'] for r in recs]
    iou = np.array([r['iou'] for r in recs])
    e = events
    out_first = next((t for t in range(e['exit_start'], len(recs)) if not person[t]), None)
    if out_first is None:
        raise ValueError('sequence never shows an empty frame after exit_start')
    back = next((t for t in range(out_first, len(recs)) if person[t]), len(recs))
    exit_k = next((t - out_first for t in range(out_first, back)
                   if recs[t]['mean_alpha'] < EXIT_ALPHA), None)
    exit_censored = exit_k is None
    if exit_censored:
        exit_k = back - out_first
    start = e['rest_start']
    steady = float(np.nanmedian(iou[start + (len(recs) - start) // 2:]))
    entry_k = next((t - start for t in range(start, len(recs))
                    if iou[t] >= ENTRY_FRACTION * steady), None)
    entry_censored = entry_k is None
    if entry_censored:
        entry_k = len(recs) - start
    return exit_k, exit_censored, entry_k, entry_censored, steady


def summarize_temporal(runs, per_sequence=False):
    """Table metrics from [(sequence, records)] of one (runner, feedback) entry."""
    ious, rest_ious, empty, steps, times = [], [], [], [], []
    still_steps, move_steps = [], []
    exits, entries, censored, steadies, details = [], [], [], [], []
    for seq, recs in runs:
        e = seq.events
        exit_k, exit_c, entry_k, entry_c, steady = recovery(recs, e)
        for t, r in enumerate(recs):
            if r['person']:
                ious.append(r['iou'])
                if t < e['exit_start'] or t >= e['rest_start']:
                    rest_ious.append(r['iou'])
            else:
                empty.append(r['mean_alpha'])
            if t:
                steps.append(r['step_err'])
                if t < e['exit_start'] or t - 1 >= e['rest_start']:
                    still_steps.append(r['step_err'])
                elif e['exit_start'] <= t <= e['out_start'] or (
                        e['entry_start'] <= t <= e['rest_start']):
                    move_steps.append(r['step_err'])
            times.append(r['ms'])
        exits.append(exit_k)
        entries.append(entry_k)
        steadies.append(steady)
        censored.extend(['%s exit' % seq.name] * exit_c + ['%s entry' % seq.name] * entry_c)
        if per_sequence:
            details.append({'name': seq.name, 'events': e, 'steady_iou': steady,
                            'exit_recover': exit_k, 'entry_recover': entry_k,
                            'iou': [r['iou'] for r in recs],
                            'mean_alpha': [r['mean_alpha'] for r in recs]})
    out = {
        'n': len(exits),
        'frames': len(times),
        'iou': float(np.mean(ious)),
        'iou_rest': float(np.mean(rest_ious)),
        'empty_alpha': float(np.mean(empty)) if empty else float('nan'),
        'tempo_err': float(np.mean(steps)) * 1e3,
        'tempo_err_still': float(np.mean(still_steps)) * 1e3 if still_steps else float('nan'),
        'tempo_err_move': float(np.mean(move_steps)) * 1e3 if move_steps else float('nan'),
        'exit_recover': float(np.mean(exits)),
        'entry_recover': float(np.mean(entries)),
        'steady_iou': float(np.mean(steadies)),
        'censored': len(censored),
        'censored_list': censored,
        'ms': float(np.mean(times[1:] if len(times) > 1 else times)),
    }
    if per_sequence:
        out['per_sequence'] = details
    return out


def _sequences(sequences, image_dir, mask_dir, plates, n, config, seed):
    if sequences is not None:
        return sequences
    if image_dir is None or mask_dir is None:
        raise ValueError('evaluate_temporal needs sequences or image_dir and mask_dir')
    if plates is None:
        plates = ss.load_plates()
    return ss.make_sequences(sm.list_pairs(image_dir, mask_dir), plates, n,
                             config or ss.SynthConfig(), seed)


def evaluate_temporal_many(entries, sequences=None, image_dir=None, mask_dir=None, plates=None,
                           n=24, config=None, seed=0, resize='linear', per_sequence=False):
    """evaluate_temporal for several entries on the very same frames: (runner, feedback), or
    (runner, feedback, k) to pass the runner's alphas through FlowSmoother(k)."""
    seqs = _sequences(sequences, image_dir, mask_dir, plates, n, config, seed)
    runs = [[] for _ in entries]
    for seq in seqs:
        for i, recs in enumerate(run_sequence(entries, seq, resize)):
            runs[i].append((seq, recs))
    out = []
    for entry, r in zip(entries, runs):
        res = summarize_temporal(r, per_sequence)
        res['feedback'] = bool(entry[1] and entry[0].feedback)
        out.append(res)
    return out


def evaluate_temporal(runner, sequences=None, feedback=True, image_dir=None, mask_dir=None,
                      plates=None, n=24, config=None, seed=0, resize='linear', per_sequence=False):
    """Temporal metrics of `runner` (see module docstring) over synthetic sequences.

    Either pass `sequences` (from tools.evaluate.synth_sequence.make_sequences) or
    image_dir/mask_dir (plates default to the empty-room frames of ../shared/data/videos, see
    synth_sequence). `feedback=False` feeds zeros as prev_alpha on every frame.
    """
    return evaluate_temporal_many([(runner, feedback)], sequences, image_dir, mask_dir, plates,
                                  n, config, seed, resize, per_sequence)[0]


def make_runner(model, path, aipp_cfg, threads):
    if path == 'rgb':
        return OnnxRgbRunner(model, aipp_cfg, threads, name=model)
    return AippRunner(model, aipp_cfg, threads, name=model)


def compare_reference(per_image, reference):
    """Mean and max |IoU - reference IoU| over the images both runs scored."""
    if 'per_image' not in reference and len(reference) == 1:
        reference = next(iter(reference.values()))  # an eval_seg --json file with one row
    ref = reference.get('per_image', reference)
    common = sorted(set(per_image) & set(ref))
    if not common:
        raise ValueError('reference run shares no image with this run')
    d = np.array([abs(per_image[k]['fg_iou'] - ref[k]['fg_iou']) for k in common])
    return {'d_iou_mean': float(d.mean()), 'd_iou_max': float(d.max()), 'n_common': len(common)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', action='append', required=True,
                   help='model-contract ONNX file; repeat to compare several. With --temporal, '
                        '"gt" adds the ground truth at model size (a perfect model at that '
                        'resolution: the floor of every number)')
    p.add_argument('--data', default=DEFAULT_DATA,
                   help='folder with images/ and masks/ (default: hsd in the shared data, '
                        'see tools/paths.py)')
    p.add_argument('--images', help='image folder (overrides DATA/images)')
    p.add_argument('--masks', help='mask folder (overrides DATA/masks)')
    p.add_argument('--path', choices=('aipp', 'rgb', 'both'), default='aipp',
                   help='aipp: NV21 through the hilens simulator (device path); rgb: float RGB '
                        'straight into ONNX Runtime; both: one row each')
    p.add_argument('--resize', choices=RESIZE_MODES, default='linear')
    p.add_argument('--aipp', default=DEFAULT_AIPP, help='aipp.cfg to derive the AIPP from')
    p.add_argument('--limit', type=int, default=None, help='first N images only')
    p.add_argument('--threads', type=int, default=1, help='ONNX Runtime threads')
    p.add_argument('--reference', help='JSON from eval_mediapipe.py --json: per-image IoU diff')
    p.add_argument('--json', help='write all results (with per-image metrics) here')
    t = p.add_argument_group('temporal benchmark')
    t.add_argument('--temporal', action='store_true', help='run the synthetic-sequence benchmark')
    t.add_argument('--sequences', type=int, default=24, help='number of sequences')
    t.add_argument('--frames', type=int, default=80, help='frames per sequence')
    t.add_argument('--frame-size', default='512x288', help='WxH of the rendered frames')
    t.add_argument('--seed', type=int, default=0)
    t.add_argument('--plates', default=ss.DEFAULT_PLATE_VIDEO,
                   help='video whose empty-room frames are the background plates')
    t.add_argument('--feedback', choices=('on', 'off', 'both'), default='on',
                   help='feed the previous alpha back (feedback models only)')
    t.add_argument('--no-feedback', dest='feedback', action='store_const', const='off',
                   help='same as --feedback off: zeros as prev_alpha on every frame')
    t.add_argument('--photometric', choices=('on', 'off'), default='on',
                   help='off: the same sequences without exposure flicker and sensor noise '
                        '(what is left of tErr is the model\'s errors moving with the scene)')
    t.add_argument('--flow-smooth', type=float, action='append', default=[], metavar='K',
                   help='also run each model without feedback through motion-compensated '
                        'smoothing, out = K * alpha + (1 - K) * flow-warped previous out; '
                        'repeat for several K')
    args = p.parse_args(argv)
    if 'gt' in args.model and not args.temporal:
        p.error('--model gt needs --temporal (the image benchmark would score the GT itself)')
    for k in args.flow_smooth:
        if not 0.0 < k <= 1.0:
            p.error('--flow-smooth must be in (0, 1], got %r' % k)
    args.images = args.images or os.path.join(args.data, 'images')
    args.masks = args.masks or os.path.join(args.data, 'masks')
    try:
        fw, fh = (int(v) for v in args.frame_size.lower().split('x'))
    except ValueError:
        p.error('--frame-size must look like 512x288, got %r' % args.frame_size)
    args.frame_wh = (fw, fh)
    return args


def main(argv=None):
    args = parse_args(argv)
    kinds = ['aipp', 'rgb'] if args.path == 'both' else [args.path]
    reference = None
    if args.reference:
        with open(args.reference) as f:
            reference = json.load(f)
    results = []
    runners = [(m, path, make_runner(m, path, args.aipp, args.threads))
               for m in args.model if m != 'gt' for path in kinds]
    if 'gt' in args.model:
        size = runners[0][2].size if runners else (256, 144)
        runners.append(('gt', 'exact', GroundTruthRunner(size)))
    if not args.temporal:
        for model, path, runner in runners:
            r = evaluate_images(runner, args.images, args.masks, args.resize, args.limit,
                                per_image=True)
            if reference is not None:
                r.update(compare_reference(r['per_image'], reference))
            results.append(('%s [%s]' % (runner.name, path), r))
        cols = ('n', 'fg_iou', 'miou', 'boundary_f', 'mae', 'ms')
        if reference is not None:
            cols += ('d_iou_mean', 'd_iou_max')
        print('images: %s (%d), resize %s' % (args.images, results[0][1]['n'], args.resize))
        print(sm.format_table(results, cols))
    else:
        config = ss.SynthConfig(n_frames=args.frames, size=args.frame_wh,
                                **(ss.PHOTOMETRIC_OFF if args.photometric == 'off' else {}))
        plates = ss.load_plates(args.plates)
        seqs = ss.make_sequences(sm.list_pairs(args.images, args.masks), plates,
                                 args.sequences, config, args.seed)
        modes = {'on': [True], 'off': [False], 'both': [True, False]}[args.feedback]
        entries, names = [], []
        for model, path, runner in runners:
            plain = 'zeros prev' if runner.feedback else 'no prev input'
            for fb in (modes if runner.feedback else [False]):
                entries.append((runner, fb))
                names.append('%s [%s, %s]' % (runner.name, path,
                                              'feedback' if runner.feedback and fb else plain))
            if not getattr(runner, 'needs_gt', False):
                for k in args.flow_smooth:
                    entries.append((runner, False, k))
                    names.append('%s [%s, %s, flow-smoothed k=%.2f]' % (runner.name, path, plain, k))
        for name, r in zip(names, evaluate_temporal_many(entries, seqs, resize=args.resize)):
            results.append((name, r))
        print('temporal: %d sequences x %d frames at %dx%d, seed %d, photometric %s'
              % (args.sequences, args.frames, args.frame_wh[0], args.frame_wh[1], args.seed,
                 args.photometric))
        print(sm.format_table(results, TEMPORAL_COLUMNS))
        cens = [(name, r['censored_list']) for name, r in results if r['censored_list']]
        for name, lst in cens:
            print('censored (%s): %s' % (name, ', '.join(lst)))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({name: r for name, r in results}, f, indent=1)
    return results


if __name__ == '__main__':
    try:
        main()
    except (OSError, ValueError, RuntimeError) as exc:
        sys.exit('%s: error: %s' % (os.path.basename(sys.argv[0]), exc))
