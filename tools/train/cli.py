"""Fine-tune the previous-alpha (feedback) matting model so that it learns to use its prior.

Recipe (after the HiLens MODNet write-up): start from MediaPipe's converted landscape network
with a zero-initialised prev_alpha channel and train on ../shared/data/hsd with the prior and
lighting augmentations of tools/train/augment.py (every probability and range a CLI flag):
- training items are short clips (--clip-len frames of one scene: a photo view drifting, or a
  person cut out and pasted on an empty scene walking, possibly half out of frame; some clips
  see the person leave or enter, some are the empty room after someone left). The network runs
  in closed loop: frame k's prior is its own (detached) output on frame k - 1, as at run time;
- frame 0's prior follows the published augmentations: blank with p 0.3 (people walking in),
  the ground truth under a random affine jitter, erosion/dilation, blotches and softening,
  a plausible wrong mask with p 0.1, and on empty clips the departed person's stale prior;
- lighting: simulated point and line lights, back-light, colour jitter, blur and noise, one
  lighting per clip plus per-frame exposure flicker and fresh noise;
- loss per frame: BCE + L1 to the mask (--gt-weight), BCE to the frozen original network on the
  frame before lighting/noise (--distill), and from frame 1 on the temporal error itself,
  |(a_k - a_(k-1)) - (g_k - g_(k-1))| (--temporal-weight);
- --scope sets what trains (default: only the prior weights of the first conv; see SCOPES).

Data split (fixed, independent of the seed; tools/evaluate/people.py, the one split of hsd and
ccp): the pairs sorted by id, every 5th one (positions 4, 9, 14, ...) is validation (46 pairs),
the rest (186) training. `--val-folder DIR` links the validation pairs into DIR for
`python -m tools.evaluate.eval_seg --data DIR`; `--evaluate CKPT` runs eval_seg's photo
benchmark on them and the skill's still and walk suites (tools/evaluate/skill_eval.py, the
model exported and run as the skill's model) on the validation people, feedback on and off.

    python -m tools.train --run runs/feedback                       # train (default recipe)
    python -m tools.train --run runs/feedback --resume --steps 800  # continue to 800 steps
    python -m tools.train --evaluate mediapipe --evaluate runs/feedback/last.pt
    python -m tools.train --export-from runs/feedback/last.pt --export runs/feedback/model.onnx

Outputs in --run: last.pt (model, optimiser, step, loss history, args; the run resumes from it),
loss.png (training loss and validation metrics), log.jsonl (one line per validation).
Training is deterministic for a seed: each step's batch is drawn from an RNG seeded with
(seed, step), so a resumed run sees exactly the batches an uninterrupted one would.

Code: tools/train/data.py (split, photos, clips), loss.py (the closed-loop loss), loop.py (the
model, the steps, validation, checkpoints), evaluate.py (the photo and skill numbers); this module is
the command line with its four modes (train, --export-from, --val-folder, --evaluate).
"""
from __future__ import annotations

import argparse
import dataclasses
import pathlib

import numpy as np
import torch

from tools import paths
from tools.train.augment import AugConfig
from tools.train.data import DEFAULT_DATA, list_hsd, split_ids, val_folder
from tools.train.evaluate import evaluate_models, print_evaluation
from tools.train.loop import SCOPES, build_model, export, train


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.train",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="hsd-like folder")
    ap.add_argument("--run", default=str(paths.REPO / "runs" / "feedback"),
                    help="output folder for checkpoints, log and loss curve")
    ap.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    ap.add_argument("--init", default="mediapipe",
                    help="mediapipe (converted weights), random, or a checkpoint .pt")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=6, help="clips per step")
    ap.add_argument("--clip-len", type=int, default=8,
                    help="frames per clip, run in closed loop (1: single frames)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--prior-lr-mult", type=float, default=1.0,
                    help="learning-rate multiplier for the prev_alpha weights of the first conv")
    ap.add_argument("--lr-final", type=float, default=0.1, help="final lr as a fraction of --lr")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--gt-weight", type=float, default=0.3,
                    help="weight of BCE (+ l1-weight x L1) to the ground-truth masks")
    ap.add_argument("--l1-weight", type=float, default=1.0)
    ap.add_argument("--distill", type=float, default=1.0,
                    help="weight of BCE to the frozen original network (0: off)")
    ap.add_argument("--distill-clean", type=int, default=1,
                    help="1: the teacher sees the frame before lighting/noise augmentation")
    ap.add_argument("--margin", type=float, default=4.0, help="logit margin of the hinge loss")
    ap.add_argument("--margin-weight", type=float, default=0.0,
                    help="weight of the logit hinge loss on certain pixels (0: off)")
    ap.add_argument("--temporal-weight", type=float, default=30.0,
                    help="weight of the frame-pair temporal error on 'self' samples")
    ap.add_argument("--scope", choices=sorted(SCOPES), default="prior",
                    help="what trains: prior = only the prev_alpha weights of the first conv; "
                         "last-stage = + the last decoder stage's convs; decoder = + all "
                         "decoder convs; all = everything")
    ap.add_argument("--freeze", default="",
                    help="comma-separated parameter-name prefixes to keep fixed (e.g. encoder.)")
    ap.add_argument("--freeze-stem-image", action="store_true",
                    help="keep the first conv's RGB weights (its prior channel still learns)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a shared machine: idle workers spin)")
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--no-val", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--export", default="", help="write the trained model to this ONNX file")
    ap.add_argument("--evaluate", action="append", default=[],
                    help="only evaluate (repeatable): mediapipe or a checkpoint .pt; photo "
                         "metrics and the skill's still and walk suites (skill_eval) on the "
                         "validation split")
    ap.add_argument("--eval-quick", action="store_true",
                    help="--evaluate on a few scenes only (skill_eval --quick)")
    ap.add_argument("--val-folder", default="",
                    help="only write a folder of symlinks to the validation pairs (images/, "
                         "masks/) for tools/evaluate/eval_seg.py --data")
    ap.add_argument("--export-from", default="",
                    help="only export this checkpoint to --export (no training)")
    aug = ap.add_argument_group("augmentation (tools/train/augment.py AugConfig)")
    for f in dataclasses.fields(AugConfig):
        aug.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = ap.parse_args(argv)
    for f in dataclasses.fields(AugConfig):
        if f.name.startswith("p_") and not 0 <= getattr(args, f.name) <= 1:
            ap.error("--%s must be in [0, 1]" % f.name.replace("_", "-"))
    if args.p_blank + args.p_wrong > 1:
        ap.error("--p-blank + --p-wrong must not exceed 1")
    if args.p_empty + args.p_exit + args.p_entry > 1:
        ap.error("--p-empty + --p-exit + --p-entry must not exceed 1")
    if args.clip_len < 1:
        ap.error("--clip-len must be at least 1")
    return args


def export_checkpoint(args) -> None:
    """--export-from CKPT --export PATH.onnx: no training."""
    if not args.export:
        raise SystemExit("--export-from needs --export PATH.onnx")
    model = build_model(args.export_from)
    export(model, pathlib.Path(args.export))
    print("wrote %s" % args.export)


def link_val_folder(args) -> None:
    """--val-folder DIR: symlinks to the validation pairs, for eval_seg --data DIR."""
    _, val_pairs = split_ids(list_hsd(pathlib.Path(args.data)))
    val_folder(val_pairs, pathlib.Path(args.val_folder))
    print("%d validation pairs linked under %s" % (len(val_pairs), args.val_folder))


def evaluate_checkpoints(args) -> None:
    """--evaluate mediapipe|CKPT (repeatable): photo and skill numbers on the validation split."""
    torch.set_num_threads(args.threads)
    models = [(pathlib.Path(e).parent.name if e.endswith(".pt") else e, build_model(e))
              for e in args.evaluate]
    print_evaluation(evaluate_models(models, pathlib.Path(args.data), args.eval_quick))


def run_training(args) -> None:
    out = train(args)
    print("%.3f s/step; final loss (mean of last 20) %.4f"
          % (out["history"]["sec_per_step"], np.mean(out["history"]["loss"][-20:])))


def main(argv=None):
    args = parse_args(argv)
    if args.export_from:
        export_checkpoint(args)
    elif args.val_folder:
        link_val_folder(args)
    elif args.evaluate:
        evaluate_checkpoints(args)
    else:
        run_training(args)


def run_cli(argv=None):
    """main() for the shell: a missing file (--data, --init, --resume, the shared data) or a
    checkpoint that is not plain data (loop.load_checkpoint) ends it with its one-line
    message instead of a traceback."""
    import pickle
    try:
        main(argv)
    except (FileNotFoundError, pickle.UnpicklingError) as exc:
        raise SystemExit("python -m tools.train: error: %s" % exc)


if __name__ == "__main__":
    run_cli()
