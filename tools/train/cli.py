"""Train the previous-alpha (feedback) matting model so that it learns to use its prior.

Two recipes (--recipe):

head (default; tools/train/feedback.py, clips.py, bank.py): MediaPipe's converted landscape
network stays exactly as converted; a small FeedbackHead after it (tools/model/selfie_net.py)
sees the network's logits and the prior and corrects the logits before the sigmoid. Only the
head trains, in closed loop, with the prior exactly as the skill makes it (prior_transform of
the last alpha, utils/temporal.py, decay/floor = the skill's defaults):
- data: clips of the training people of hsd and ccp (tools/evaluate/people.py's split; the
  validation people are never loaded): still portraits with camera drift, exposure flicker
  and sensor noise, people walking in / standing / walking out of empty scenes, faster camera
  motion, and with --davis consecutive DAVIS frames (none by default, so the DAVIS benchmark of
  tools/evaluate/skill_eval and this recipe's own DAVIS validation stay unseen); pictures
  reach the network as in the skill (uint8 -> NV21 -> the simulator's AIPP);
- frame 0's prior: the published augmentations (blank p 0.3, jittered / eroded / dilated /
  blotched ground truth, a plausible wrong mask p 0.1, the departed person's stale mask on
  empty rooms), lighting: point/line/back-light, colour, blur, noise;
- the clips are rendered once into a bank with the frozen network's logits (--bank,
  --bank-clips); each step draws clips from it, a window of each (--window) and runs the head;
- loss per frame: BCE to the frozen network on the clean frame (--distill), BCE + L1 to the
  masks where they can be trusted (--gt-weight), the temporal error
  |(a_k - a_(k-1)) - (g_k - g_(k-1))| (--temporal-weight), more weight where the masks moved
  (--motion-weight); the gradient flows through the loop (--bptt);
- validation (every --val-every steps, head on against head off): still clips, walks in and
  out of empty rooms and the hsd photos of the validation people, and the DAVIS clips.

stem (the earlier recipe; tools/train/data.py, loss.py, loop.py): the prior as a fourth input
channel of the first conv, trained on hsd with --scope; model/MODEL.md says what it gave.

Data split (fixed, independent of the seed; tools/evaluate/people.py, the one split of hsd and
ccp): the pairs sorted by id, every 5th one (positions 4, 9, 14, ...) is validation.
`--val-folder DIR` links the hsd validation pairs into DIR for `python -m
tools.evaluate.eval_seg --data DIR`; `--evaluate CKPT` runs eval_seg's photo benchmark on them
and the skill's still and walk suites (tools/evaluate/skill_eval.py, the model exported and run
as the skill's model) on the validation people, feedback on and off.

    python -m tools.train --run runs/feedback                       # train (head recipe)
    python -m tools.train --run runs/feedback --resume --steps 800  # continue to 800 steps
    python -m tools.train --evaluate mediapipe --evaluate runs/feedback/last.pt
    python -m tools.train --export-from runs/feedback/last.pt --export runs/feedback/model.onnx

Outputs in --run: last.pt (model, optimiser, step, loss history, args; the run resumes from it)
and log.jsonl (one line per validation); the stem recipe also writes loss.png. Training is
deterministic for a seed: each step's batch is drawn from an RNG seeded with (seed, step), so a
resumed run sees exactly the batches an uninterrupted one would.

This module is the command line with its four modes (train, --export-from, --val-folder,
--evaluate).
"""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys

import numpy as np
import torch

from tools import paths
from tools.train.augment import AugConfig
from tools.train.clips import ClipConfig
from tools.train.data import DEFAULT_DATA, list_hsd, split_ids, val_folder
from tools.train.evaluate import evaluate_models, print_evaluation
from tools.train.loop import SCOPES, build_model, export, train

# The head recipe's own defaults where it differs from the stem recipe's (which keeps its
# own, so that model/MODEL.md's earlier numbers stay reproducible): applied unless the flag
# is on the command line.
HEAD_DEFAULTS = {"steps": 1500, "batch": 8, "val_every": 300, "head_channels": 16,
                 "p_empty_plate": 0.8}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.train",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--recipe", choices=("head", "stem"), default="head",
                    help="head: MediaPipe's network frozen, a FeedbackHead trained after it "
                         "(tools/train/feedback.py); stem: the prior as a 4th input channel "
                         "of the first conv (the earlier recipe, model/MODEL.md)")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="stem recipe: hsd-like folder")
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
    ap.add_argument("--export-head", default="",
                    help="head recipe: write the FeedbackHead's weights to this JSON file (what "
                         "python -m tools.model.export_onnx builds matting.onnx from)")
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
    head = ap.add_argument_group("head recipe (tools/train/feedback.py, tools/train/clips.py)")
    head.add_argument("--collections", type=_names, default=("hsd", "ccp"),
                      help="person photo collections to train on (their training split)")
    head.add_argument("--davis", type=_names, default=(),
                      help="DAVIS clips to train on (comma list; default none: the DAVIS "
                           "benchmark of tools/evaluate/skill_eval stays unseen)")
    head.add_argument("--bank", default="",
                      help="clip bank folder (tools/train/bank.py; default RUN/bank): built or "
                           "extended to --bank-clips before training, shared between runs")
    head.add_argument("--bank-clips", type=int, default=2000)
    head.add_argument("--window", type=_window, default=(72, 128),
                      help="HxW window of each clip the head trains on (full: 144x256)")
    head.add_argument("--val-davis", type=_names,
                      default=("breakdance-flare", "rollerblade", "swing"),
                      help="DAVIS clips of the validation (those not trained on): real video "
                           "in closed loop")
    head.add_argument("--head-channels", type=int, default=8,
                      help="FeedbackHead width (head recipe default: %d)"
                           % HEAD_DEFAULTS["head_channels"])
    head.add_argument("--motion-weight", type=float, default=0.0,
                      help="extra loss weight where the masks moved (lag and trails)")
    head.add_argument("--kind-weights", type=_weights, default={},
                      help="how often each clip kind of the bank is drawn, e.g. "
                           "still:1,walk:2 (default: as in the bank)")
    head.add_argument("--bptt", type=int, default=1,
                      help="1: the gradient flows through the prior from frame to frame")
    head.add_argument("--prior-decay", type=float, default=None,
                      help="prior_transform decay (default: the skill's prior_decay)")
    head.add_argument("--prior-floor", type=float, default=None,
                      help="prior_transform floor (default: the skill's prior_floor)")
    head.add_argument("--val-still", type=int, default=16, help="validation still clips")
    head.add_argument("--val-walks", type=int, default=12, help="validation walks")
    for f in dataclasses.fields(ClipConfig):
        head.add_argument("--" + f.name.replace("_", "-"), type=type(f.default),
                          default=f.default)
    aug = ap.add_argument_group("augmentation (tools/train/augment.py AugConfig)")
    for f in dataclasses.fields(AugConfig):
        aug.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = ap.parse_args(argv)
    if args.recipe == "head":
        given = {a.split("=", 1)[0] for a in (sys.argv[1:] if argv is None else argv)}
        for key, value in HEAD_DEFAULTS.items():
            if "--" + key.replace("_", "-") not in given:
                setattr(args, key, value)
    for f in dataclasses.fields(AugConfig):
        if f.name.startswith("p_") and not 0 <= getattr(args, f.name) <= 1:
            ap.error("--%s must be in [0, 1]" % f.name.replace("_", "-"))
    if args.p_blank + args.p_wrong > 1:
        ap.error("--p-blank + --p-wrong must not exceed 1")
    if args.p_empty + args.p_exit + args.p_entry > 1:
        ap.error("--p-empty + --p-exit + --p-entry must not exceed 1")
    if args.clip_len < 1:
        ap.error("--clip-len must be at least 1")
    if args.recipe == "head":
        from tools.train.feedback import skill_prior_settings
        decay, floor = skill_prior_settings()
        args.prior_decay = decay if args.prior_decay is None else args.prior_decay
        args.prior_floor = floor if args.prior_floor is None else args.prior_floor
        if not 0 <= args.prior_floor < 1:
            ap.error("--prior-floor must be in [0, 1)")
        bad = [c for c in args.collections if c not in ("hsd", "ccp")]
        if bad or not args.collections:
            ap.error("--collections: expected a comma list of hsd, ccp")
    return args


def _window(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected HxW like 72x128, got %r" % text)
    if not (8 <= h <= 144 and 8 <= w <= 256) or h % 2 or w % 2:
        raise argparse.ArgumentTypeError("window %r: even sides within 8x8..144x256 (the head "
                                         "works on 2x2 blocks)" % text)
    return h, w


def _weights(text):
    out = {}
    for item in _names(text):
        kind, _, value = item.partition(":")
        from tools.train.clips import KINDS
        try:
            out[kind] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError("expected kind:weight, got %r" % item)
        if kind not in KINDS or out[kind] < 0:
            raise argparse.ArgumentTypeError("kind:weight with a kind of %s and a weight >= 0, "
                                             "got %r" % (", ".join(KINDS), item))
    return out


def _names(text):
    return tuple(s.strip() for s in text.split(",") if s.strip())


def model_from(spec: str):
    """mediapipe (the converted network, its prior unused) or a checkpoint of either recipe."""
    if spec.endswith(".pt") and pathlib.Path(spec).is_file():
        from tools.train import feedback
        if feedback.is_head_checkpoint(spec):
            return feedback.build_model(spec)
    return build_model(spec)


def export_checkpoint(args) -> None:
    """--export-from CKPT --export PATH.onnx: no training."""
    if not args.export and not args.export_head:
        raise SystemExit("--export-from needs --export PATH.onnx and/or --export-head PATH.json")
    model = model_from(args.export_from)
    if args.export:
        export(model, pathlib.Path(args.export))
        print("wrote %s" % args.export)
    if args.export_head:
        if getattr(model, "feedback", None) is None:
            raise SystemExit("--export-head: %s has no FeedbackHead" % args.export_from)
        from tools.model.export_onnx import save_head
        print("wrote %s" % save_head(model, args.export_head))


def link_val_folder(args) -> None:
    """--val-folder DIR: symlinks to the validation pairs, for eval_seg --data DIR."""
    _, val_pairs = split_ids(list_hsd(pathlib.Path(args.data)))
    val_folder(val_pairs, pathlib.Path(args.val_folder))
    print("%d validation pairs linked under %s" % (len(val_pairs), args.val_folder))


def evaluate_checkpoints(args) -> None:
    """--evaluate mediapipe|CKPT (repeatable): photo and skill numbers on the validation split."""
    torch.set_num_threads(args.threads)
    models = [(pathlib.Path(e).parent.name if e.endswith(".pt") else e, model_from(e))
              for e in args.evaluate]
    print_evaluation(evaluate_models(models, pathlib.Path(args.data), args.eval_quick))


def run_training(args) -> None:
    if args.recipe == "head":
        from tools.train import feedback
        out = feedback.train(args)
    else:
        out = train(args)
    if out["history"]["loss"]:
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
