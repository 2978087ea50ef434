"""The feedback-head recipe (tools/train/feedback.py, bank.py, clips.py): the prior it trains
with is the skill's, bit for bit; the fast training path computes the head's own forward; an
untrained head is the per-frame network; a trained one exports to ONNX and Caffe inside the
Ascend boundaries and computes there what it computes in PyTorch; training lowers a fixed
batch's loss and resumes exactly.

Runs on generated "people" (tools/paths.py's MATTING_SHARED_DATA points at a temporary folder)
and random network weights, so it needs neither the shared data nor the MediaPipe wheel.
"""
import json

import cv2
import numpy as np
import onnx
import pytest
import torch

from tools.model.selfie_net import FeedbackHead, SelfieSegNet
from tools.train import bank, cli, clips, feedback
from utils.temporal import prior_transform


@pytest.fixture(autouse=True)
def _torch_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _people(root, name, n, rng, w=320, h=240):
    (root / name / "images").mkdir(parents=True)
    (root / name / "masks").mkdir()
    for i in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 120, (h, w, 3), dtype=np.uint8), (0, 0), 3)
        mask = np.zeros((h, w), np.uint8)
        cx = int(rng.integers(90, 230))
        cv2.ellipse(mask, (cx, 200), (55, 90), 0, 0, 360, 255, -1)
        cv2.circle(mask, (cx, 85), 32, 255, -1)
        img[mask > 0] = rng.integers(150, 255, 3).tolist()
        cv2.imwrite(str(root / name / "images" / ("%04d.jpg" % i)), img)
        cv2.imwrite(str(root / name / "masks" / ("%04d.png" % i)), mask)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    rng = np.random.default_rng(3)
    _people(root, "hsd", 10, rng)
    _people(root, "ccp", 10, rng, 200, 300)
    return root


@pytest.fixture
def data_env(shared, monkeypatch):
    from tools import paths
    monkeypatch.setenv(paths.DATA_ENV, str(shared))
    return shared


def _random_head_model(seed=0, channels=8):
    torch.manual_seed(seed)
    model = SelfieSegNet("landscape", prev_alpha=True, prior_at="head", head_channels=channels)
    for p in model.feedback.parameters():
        torch.nn.init.normal_(p, std=0.4)
    return model.eval()


def test_train_prior_twin_is_the_skills_prior_bit_for_bit():
    rng = np.random.default_rng(0)
    a = rng.random((3, 1, 144, 256), dtype=np.float32)
    a[0, 0, 0, :8] = [0, 1, 0.2, 0.2222222, 0.22222224, 0.5, 1e-8, 0.99999994]
    for decay, floor in ((0.9, 0.2), (1.0, 0.0), (0.75, 0.5)):
        want = prior_transform(a, decay, floor)
        got = feedback.prior_transform_torch(torch.from_numpy(a), decay, floor).numpy()
        assert got.dtype == np.float32 and np.array_equal(got, want)
        assert np.array_equal(feedback.prior_transform_np(a, decay, floor), want)
    # and it is differentiable where the prior is not clamped
    x = torch.full((1, 1, 2, 2), 0.6, requires_grad=True)
    feedback.prior_transform_torch(x, 0.9, 0.2).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 0.9 / 0.8))


def test_train_matmul_path_is_the_heads_forward():
    head = _random_head_model(1).feedback
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 1, 20, 36, generator=g) * 4
    prior = torch.rand(3, 1, 20, 36, generator=g)
    with torch.no_grad():
        # the correction is made at half size and repeated over each 2x2 block
        half = torch.full_like(prior, 0.5)
        d = (head(logits, half) - logits) / 0.5
        assert torch.allclose(d[..., 0::2, 0::2], d[..., 1::2, 1::2], atol=1e-5)
        assert not torch.allclose(d[..., 0::2, 0::2], d[..., 2::2, 2::2][..., :1, :1], atol=1e-3)
    with torch.no_grad():
        want = head(logits, prior)
        got = feedback.head_matmul(head, logits, prior)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_train_untrained_head_is_the_per_frame_network():
    torch.manual_seed(4)
    base = SelfieSegNet("landscape")
    model = SelfieSegNet("landscape", prev_alpha=True, prior_at="head")
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("feedback.") for k in missing)
    assert isinstance(model.feedback, FeedbackHead)
    g = torch.Generator().manual_seed(5)
    image = torch.rand(2, 3, 144, 256, generator=g)
    with torch.no_grad():
        for prior in (torch.zeros(2, 1, 144, 256), torch.rand(2, 1, 144, 256, generator=g)):
            assert torch.equal(model(image, prior), base(image))
        assert torch.equal(model.logits(image), base.logits(image))
    with pytest.raises(ValueError, match="prev_alpha"):
        model(image)
    # whatever the head learned, a zero prior (first frame, nothing there) is the per-frame
    # network exactly: entries and single photos get the per-frame matte
    for p in model.feedback.parameters():
        torch.nn.init.normal_(p, std=0.5)
    with torch.no_grad():
        assert torch.equal(model(image, torch.zeros(2, 1, 144, 256)), base(image))
        assert not torch.equal(model(image, torch.full((2, 1, 144, 256), 0.5)), base(image))


def test_train_head_model_exports_inside_the_ascend_boundaries(tmp_path):
    from tools.model import caffe_pb
    from tools.model.check_caffe_boundary import check_net
    from tools.model.check_onnx_ascend import check_model
    from tools.model.export_caffe import make_model, run_opencv_caffe, write_caffe
    from tools.model.export_onnx import export_onnx, onnx_matches_torch

    model = _random_head_model(6)
    path = export_onnx(model, tmp_path / "head.onnx")
    g = torch.Generator().manual_seed(7)
    inputs = (torch.rand(1, 3, 144, 256, generator=g), torch.rand(1, 1, 144, 256, generator=g))
    assert onnx_matches_torch(model, path, inputs) < 1e-5
    census, problems = check_model(onnx.load(str(path)), expect_prev_alpha=True)
    assert not problems, problems
    assert set(census) <= {"Conv", "ConvTranspose", "Relu", "Sigmoid", "HardSigmoid", "Mul",
                           "Add", "GlobalAveragePool", "Resize", "Concat", "AveragePool"}
    pools = [n for n in onnx.load(str(path)).graph.node if n.op_type == "AveragePool"]
    assert len(pools) == 2 and not [n for n in onnx.load(str(path)).graph.node
                                    if n.op_type == "Pad"]

    # Caffe from the ONNX file's weights (the layout is read from them), inside the boundary,
    # and OpenCV's Caffe importer computes what ONNX Runtime computes, prior included
    again = make_model("landscape", True, "onnx", path)
    assert again.prior_at == "head"
    proto, weights = write_caffe(again, tmp_path / "matting")
    _, violations, census, _, _ = check_net(caffe_pb.read_net(proto, weights))
    assert not violations, violations
    feed = {"image": inputs[0].numpy(), "prev_alpha": inputs[1].numpy()}
    got = run_opencv_caffe(proto, weights, [feed])[0]
    with torch.no_grad():
        want = model(*inputs).numpy()
    assert np.abs(got - want).max() < 2e-4


def test_train_head_weights_file_round_trips_exactly(tmp_path):
    from tools.model.export_onnx import load_head, save_head
    model = _random_head_model(8, channels=4)
    path = save_head(model, tmp_path / "head.json")
    fresh = SelfieSegNet("landscape", prev_alpha=True, prior_at="head", head_channels=4)
    load_head(fresh, path)
    for name, value in model.state_dict().items():
        if name.startswith("feedback."):
            assert torch.equal(fresh.state_dict()[name], value), name
    with pytest.raises(ValueError, match="does not fit"):
        load_head(SelfieSegNet("landscape", prev_alpha=True, prior_at="head",
                               head_channels=8), path)


def test_train_clips_are_what_the_recipe_says(data_env):
    src = clips.load_sources(("hsd", "ccp"))
    names = {p.name for p in src.photos}
    # the training split only: every 5th sorted pair (0004, 0009) is validation
    assert len(src.photos) == 16 and not names & {"hsd/0004", "hsd/0009", "ccp/0004"}
    val = clips.load_sources(("hsd",), which="val")
    assert sorted(p.name for p in val.photos) == ["hsd/0004", "hsd/0009"]
    aug = feedback.AugConfig()
    cc = clips.ClipConfig()
    seen = set()
    for i in range(24):
        c = clips.make_clip(src, bank.clip_rng(0, i), aug, cc, 4)
        seen.add(c["kind"])
        assert len(c["image"]) == len(c["gt"]) == 4
        assert c["prior_alpha"].shape == (144, 256)
        if c["mode"] == "blank":
            assert c["prior_alpha"].max() == 0
        if c["event"] == "exit":
            assert c["gt"][0].max() > 0.5 and c["gt"][-1].max() == 0
    assert {"still", "walk"} <= seen
    camera = clips.CameraPath()
    x = camera(np.full((144, 256, 3), 0.5, np.float32))
    assert x.shape == (3, 144, 256) and abs(float(x.mean()) - 0.5) < 0.02


def _args(run, bank_dir, steps, *extra):
    # random network weights give logits near 0: with the masks as the target (no
    # distillation to that network) and near-right priors the head has something to learn
    return cli.parse_args(["--run", str(run), "--bank", str(bank_dir), "--bank-clips", "6",
                           "--distill", "0", "--gt-weight", "1", "--temporal-weight", "1",
                           "--p-blank", "0", "--p-wrong", "0", "--p-entry", "0",
                           "--p-empty", "0", "--p-exit", "0",
                           "--init", "random", "--steps", str(steps), "--batch", "3",
                           "--clip-len", "3", "--window", "40x64", "--lr", "5e-2",
                           "--warmup", "1", "--lr-final", "1.0", "--no-val", "--quiet",
                           "--seed", "3", "--ckpt-every", "1000"] + list(extra))


def test_train_head_recipe_learns_resumes_and_exports(data_env, tmp_path):
    from tools.model.export_onnx import onnx_matches_torch
    bank_dir = tmp_path / "bank"
    args = _args(tmp_path / "a", bank_dir, 15, "--export", str(tmp_path / "a.onnx"))
    out = feedback.train(args)
    meta = json.loads((bank_dir / "bank.json").read_text())
    assert meta["count"] == 6 and meta["clip_len"] == 3
    curve = out["history"]["loss"]
    assert len(curve) == 15 and all(np.isfinite(curve))

    # a fixed batch of the bank (a draw training never made) scores better after training
    b = bank.Bank(bank_dir).sample(np.random.default_rng(99), 6, (40, 64))
    torch.manual_seed(args.seed)          # train() draws the random weights the same way
    untrained = feedback.build_model("random")
    with torch.no_grad():
        before = feedback.compute_loss(untrained.feedback, b, b["logits"], b["teacher"],
                                       args)[1]["loss"]
        after = feedback.compute_loss(out["model"].feedback, b, b["logits"], b["teacher"],
                                      args)[1]["loss"]
    assert after < 0.95 * before, (before, after)
    # only the head moved
    for name, p in out["model"].state_dict().items():
        if not name.startswith("feedback."):
            assert torch.equal(p, untrained.state_dict()[name]), name

    # resume reproduces the straight run (the bank is reused, not rebuilt)
    feedback.train(_args(tmp_path / "c", bank_dir, 8))
    resumed = feedback.train(_args(tmp_path / "c", bank_dir, 15, "--resume"))["history"]
    np.testing.assert_allclose(resumed["loss"], curve, rtol=1e-5, atol=1e-6)

    # the export is the trained model, prior and all
    g = torch.Generator().manual_seed(1)
    inputs = (torch.rand(1, 3, 144, 256, generator=g), torch.rand(1, 1, 144, 256, generator=g))
    assert onnx_matches_torch(out["model"], tmp_path / "a.onnx", inputs) < 1e-5


def test_train_bank_refuses_other_settings(data_env, tmp_path):
    bank_dir = tmp_path / "bank"
    feedback.train(_args(tmp_path / "a", bank_dir, 1))
    with pytest.raises(ValueError, match="other settings"):
        feedback.train(_args(tmp_path / "b", bank_dir, 1, "--clip-len", "4"))
