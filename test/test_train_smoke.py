"""tools/train end to end on a handful of images: the loss goes down, runs are reproducible and
resumable, and the trained model still exports to the model contract and matches in ONNX Runtime.

Uses two photos of the shared hsd (tools/paths.py) when that folder exists (as in CI), else a
small generated set of "people" (textured blobs on textured backgrounds). Starts from random
weights so the test needs no MediaPipe download.
"""

import cv2
import numpy as np
import onnx
import pytest
import torch

from tools import paths
from tools.model.export_onnx import onnx_matches_torch
from tools.train import cli, data, loop, loss

HSD = paths.hsd()


def _synthetic_hsd(root, n=10):
    """hsd-like folder of n photos: a noisy background and a bright upright ellipse + head."""
    rng = np.random.default_rng(7)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        h, w = 240, 320
        img = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (0, 0), 3)
        mask = np.zeros((h, w), np.uint8)
        cx = int(rng.integers(90, 230))
        cv2.ellipse(mask, (cx, 200), (55, 90), 0, 0, 360, 255, -1)
        cv2.circle(mask, (cx, 85), 32, 255, -1)
        colour = rng.integers(150, 255, 3).tolist()
        img[mask > 0] = colour
        cv2.imwrite(str(root / "images" / ("%03d.jpg" % i)), img)
        cv2.imwrite(str(root / "masks" / ("%03d.png" % i)), mask)
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    if (HSD / "images").is_dir():
        return HSD
    return _synthetic_hsd(tmp_path_factory.mktemp("hsd"))


@pytest.fixture(autouse=True)
def _restore_torch_state():
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(det)


def _args(data_dir, run, steps, *extra):
    # overfit two photos: random init, no distillation (no MediaPipe weights needed)
    return cli.parse_args(["--data", str(data_dir), "--run", str(run), "--init", "random",
                             "--scope", "all", "--gt-weight", "1", "--temporal-weight", "1",
                             "--steps", str(steps), "--batch", "2", "--clip-len", "2",
                             "--lr", "5e-3", "--prior-lr-mult", "1",
                             "--warmup", "1", "--lr-final", "1.0", "--distill", "0",
                             "--limit", "2", "--no-val", "--quiet", "--seed", "3",
                             "--ckpt-every", "1000"] + list(extra))


def _fixed_batch_loss(model, data_dir, args):
    """Loss on a fixed batch of the training photos (a step index training never reaches),
    so the comparison is not at the mercy of which augmentations a training step drew."""
    photos = data.load_photos(data.split_ids(data.list_hsd(data_dir))[0][:args.limit])
    batch = data.make_batch(photos, 8, args.seed, 10 ** 6, data.aug_config(args), args.clip_len)
    tap = loss.LogitsTap(model)
    model.eval()
    with torch.no_grad():
        return loss.compute_loss(model, tap, None, batch, args)[1]["loss"]


def test_train_loss_goes_down_and_export_matches(data_dir, tmp_path):
    onnx_path = tmp_path / "trained.onnx"
    args = _args(data_dir, tmp_path / "run", 12, "--export", str(onnx_path))
    torch.manual_seed(args.seed)          # train() builds the random init the same way
    before = _fixed_batch_loss(loop.build_model("random"), data_dir, args)
    out = loop.train(args)
    curve = out["history"]["loss"]
    assert len(curve) == 12 and all(np.isfinite(curve))
    after = _fixed_batch_loss(out["model"], data_dir, args)
    print("fixed-batch loss", before, after)
    assert after < 0.85 * before, (before, after, curve)

    run = tmp_path / "run"
    assert (run / "last.pt").is_file()
    assert (run / "loss.png").stat().st_size > 1000

    # the export keeps the model contract (export_onnx checks it) and computes the same thing,
    # with a real prior on the feedback input (its weights are no longer zero after training)
    model = out["model"].eval()
    assert float(model.stem.conv.weight.detach()[:, 3].abs().sum()) > 0
    m = onnx.load(str(onnx_path))
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert [(i.name, dims(i)) for i in m.graph.input] == [("image", [1, 3, 144, 256]),
                                                          ("prev_alpha", [1, 1, 144, 256])]
    assert [(o.name, dims(o)) for o in m.graph.output] == [("alpha", [1, 1, 144, 256])]
    g = torch.Generator().manual_seed(1)
    inputs = (torch.rand(1, 3, 144, 256, generator=g), torch.rand(1, 1, 144, 256, generator=g))
    assert onnx_matches_torch(model, onnx_path, inputs) < 1e-4


def test_train_is_deterministic_and_resumable(data_dir, tmp_path):
    # the resumed steps 3-4 only equal the straight run's if training is deterministic
    straight = loop.train(_args(data_dir, tmp_path / "a", 4))["history"]["loss"]
    loop.train(_args(data_dir, tmp_path / "c", 2))
    resumed = loop.train(_args(data_dir, tmp_path / "c", 4, "--resume"))["history"]["loss"]
    np.testing.assert_allclose(resumed, straight, rtol=1e-5, atol=1e-6)


def test_train_split_is_fixed_every_fifth():
    pairs = [("%03d" % i, "i", "m") for i in range(1, 13)]
    tr, va = data.split_ids(pairs)
    assert [p[0] for p in va] == ["005", "010"]
    assert len(tr) == 10 and not set(tr) & set(va)


def test_train_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(SystemExit):
        cli.parse_args(["--p-blank", "0.7", "--p-wrong", "0.4"])
    with pytest.raises(SystemExit):
        cli.parse_args(["--p-exit", "1.5"])
    with pytest.raises(FileNotFoundError, match="--data"):
        loop.train(cli.parse_args(["--data", str(tmp_path), "--run", str(tmp_path / "r"),
                                      "--quiet"]))


def test_train_scope_prior_changes_only_the_prior_weights(data_dir, tmp_path):
    args = _args(data_dir, tmp_path / "p", 2, "--scope", "prior")
    torch.manual_seed(args.seed)
    init = loop.build_model("random").state_dict()
    trained = loop.train(args)["model"].state_dict()
    changed = [k for k in init if not torch.equal(init[k], trained[k])]
    assert changed == ["stem.conv.weight"]
    diff = (init["stem.conv.weight"] - trained["stem.conv.weight"]).abs()
    assert diff[:, :3].max() == 0 and diff[:, 3].max() > 0
