"""Evaluation of models on the validation split: the raw network's photo metrics
(tools/evaluate/eval_seg.py, zeros as prior, the validation photos of `data`) and the skill's
own numbers with the model as the skill's `model` (tools/evaluate/skill_eval.py: its still
and walk suites on the validation people of the shared data, feedback on and off). Each model
is exported to ONNX first and run through the skill's pipeline, so what is measured is what
would ship, with the prior exactly as the skill makes it."""
from __future__ import annotations

import pathlib
import shutil
import tempfile

from tools import paths
from tools.evaluate import eval_seg, skill_eval
from tools.evaluate import seg_metrics as sm
from tools.evaluate.seg_metrics import list_pairs
from tools.evaluate.seg_runners import TorchRunner
from tools.train.augment import MODEL_H, MODEL_W
from tools.train.data import list_hsd, split_ids, val_folder
from tools.train.loop import export

SUITES = ("still", "walk")


def evaluate_models(models: list, data: pathlib.Path, quick: bool = False) -> list:
    """[(name, module)] -> [(row name, metrics)], one row per model and feedback setting:
    photo IoU / boundary F of the network and, through the skill, the still portraits' IoU
    and temporal error and the walks' moving IoU, temporal error, empty-room alpha and
    frames to appear / clear. Every model sees the very same frames."""
    _, val_pairs = split_ids(list_hsd(data))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        images, masks = val_folder(val_pairs, tmp / "val")
        assert len(list_pairs(images, masks)) == len(val_pairs)
        shutil.copy(paths.REPO / "aipp.cfg", tmp / "aipp.cfg")   # the simulator's AIPP
        configs, photos = [], {}
        for i, (name, m) in enumerate(models):
            onnx_path = tmp / ("model%d.onnx" % i)
            export(m, onnx_path)
            photos[name] = eval_seg.evaluate_images(
                TorchRunner(m.eval(), (MODEL_W, MODEL_H), True, name=name), images, masks)
            for fb in (True, False):
                cfg = skill_eval.load_skill_config([("model", str(onnx_path.with_suffix(".om"))),
                                                    ("feedback", "true" if fb else "false")])
                configs.append(("%s [%s]" % (name, "feedback" if fb else "zeros prev"), cfg,
                                name))
        report = skill_eval.evaluate(list(SUITES), [c[:2] for c in configs], baseline=False,
                                     quick=quick, echo=lambda text: None)
        still, walk = (report["suites"][s]["rows"] for s in SUITES)
        for label, _, name in configs:
            row = {"still_iou": still[label]["iou"], "still_terr": still[label]["tempo_err"],
                   "walk_moving_iou": walk[label]["iou:moving"],
                   "walk_terr": walk[label]["tempo_err"], "empty_alpha": walk[label]["empty_alpha"],
                   "appear": walk[label]["appear"], "clear": walk[label]["clear"]}
            row.update({"img_" + k: v for k, v in photos[name].items() if k != "n"})
            rows.append((label, row))
    return rows


def print_evaluation(rows: list) -> None:
    cols = ("still_iou", "still_terr", "walk_moving_iou", "walk_terr", "empty_alpha", "appear",
            "clear", "img_fg_iou", "img_boundary_f")
    print(sm.format_table(rows, cols, headers={
        "still_iou": "still IoU", "still_terr": "still tErr e-3",
        "walk_moving_iou": "moving IoU", "walk_terr": "walk tErr e-3",
        "empty_alpha": "empty a", "img_fg_iou": "photo IoU", "img_boundary_f": "photo F"}))
