"""Evaluation of models on the validation split with tools/evaluate/eval_seg.py (the numbers
the targets refer to): its photo benchmark and its temporal benchmark with and without feedback."""
from __future__ import annotations

import pathlib
import tempfile

from tools.evaluate import eval_seg
from tools.evaluate import seg_metrics as sm
from tools.evaluate import synth_sequence as ss
from tools.evaluate.seg_metrics import list_pairs
from tools.evaluate.seg_runners import TorchRunner
from tools.train.augment import MODEL_H, MODEL_W
from tools.train.data import list_hsd, split_ids, val_folder


def evaluate_models(models: list, data: pathlib.Path, n_seq: int = 0) -> list:
    """[(name, module)] -> [(row name, metrics)]: eval_seg's image metrics (zeros as prior) and
    temporal benchmark with and without feedback, persons from the validation split only,
    eval_seg's default plates, sequence count, length, frame size and seed (n_seq > 0 overrides
    the count). Every model sees the very same frames."""
    _, val_pairs = split_ids(list_hsd(data))
    d = eval_seg.parse_args(["--model", "-", "--temporal"])
    seqs = ss.make_sequences(val_pairs, ss.load_plates(d.plates), n_seq or d.sequences,
                             ss.SynthConfig(n_frames=d.frames, size=d.frame_wh), d.seed)
    runners = [(name, TorchRunner(m.eval(), (MODEL_W, MODEL_H), True, name=name))
               for name, m in models]
    entries = [(r, fb) for _, r in runners for fb in (True, False)]
    temporal = eval_seg.evaluate_temporal_many(entries, seqs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        images, masks = val_folder(val_pairs, pathlib.Path(tmp))
        assert len(list_pairs(images, masks)) == len(val_pairs)
        for i, (name, r) in enumerate(runners):
            img = eval_seg.evaluate_images(r, images, masks)
            for j, fb in enumerate((True, False)):
                t = dict(temporal[2 * i + j])
                t.update({"img_" + k: v for k, v in img.items() if k != "n"})
                rows.append(("%s [%s]" % (name, "feedback" if fb else "zeros prev"), t))
    return rows


def print_evaluation(rows: list) -> None:
    cols = ("n", "iou", "iou_rest", "empty_alpha", "tempo_err", "tempo_err_still",
            "tempo_err_move", "exit_recover", "entry_recover", "censored", "img_fg_iou",
            "img_boundary_f")
    print(sm.format_table(rows, cols, headers={"img_fg_iou": "photo IoU",
                                               "img_boundary_f": "photo F"}))
