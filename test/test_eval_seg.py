"""tools/evaluate/eval_seg.py and tools/evaluate/seg_runners.py end to end on tiny model-contract
ONNX files (test_eval_support.tiny_model: red 'people' on blue segment perfectly)."""
import json
import os

import numpy as np
import pytest
from test_eval_support import make_data, tiny_model

from tools.evaluate import eval_seg
from tools.evaluate import seg_runners as sr


@pytest.fixture
def data(tmp_path):
    return make_data(str(tmp_path / "hsd"))


def test_rgb_and_aipp_paths_segment_the_red_people(tmp_path, data):
    # 64x48 is not the repo aipp.cfg's 256x144: the AIPP runner must derive its own cfg.
    model = tiny_model(tmp_path / "m.onnx", 64, 48)
    rgb = eval_seg.evaluate_images(sr.OnnxRgbRunner(model), *data, per_image=True)
    aipp_runner = sr.AippRunner(model)
    with open(os.path.join(aipp_runner.tmp, "aipp.cfg")) as f:
        cfg = sr.aipp_values(f.read())
    assert (cfg["src_image_size_w"], cfg["src_image_size_h"]) == (64, 48)
    aipp = eval_seg.evaluate_images(aipp_runner, *data)
    for r in (rgb, aipp):
        assert r["n"] == 4
        assert r["fg_iou"] > 0.9 and r["miou"] > 0.9 and r["boundary_f"] > 0.8
        assert r["mae"] < 0.1 and r["ms"] > 0
    assert sorted(rgb["per_image"]) == ["000", "001", "002", "003"]
    # NV21 halves the chroma resolution; the two paths still agree closely here.
    assert abs(rgb["fg_iou"] - aipp["fg_iou"]) < 0.05
    inverted = eval_seg.evaluate_images(sr.OnnxRgbRunner(tiny_model(tmp_path / "i.onnx", 64, 48,
                                                                    k=-12.0)), *data)
    assert inverted["fg_iou"] < 0.1 and inverted["mae"] > 0.8


def test_feedback_models_get_zero_prior_on_photos(tmp_path, data):
    # A large g would paint everything as person if the prior were not zeros.
    model = tiny_model(tmp_path / "fb.onnx", 64, 48, feedback=True, g=50.0)
    r = eval_seg.evaluate_images(sr.OnnxRgbRunner(model), *data)
    assert r["fg_iou"] > 0.9


def test_cli_prints_both_paths_and_compares_with_a_reference(tmp_path, data, capsys):
    model = tiny_model(tmp_path / "m.onnx", 64, 48)
    out = str(tmp_path / "r.json")
    eval_seg.main(["--model", model, "--images", data[0], "--masks", data[1], "--path", "both",
                   "--json", out])
    text = capsys.readouterr().out
    assert (model + " [aipp]") in text and (model + " [rgb]") in text and "bound F" in text
    with open(out) as f:
        saved = json.load(f)
    ref = str(tmp_path / "ref.json")
    with open(ref, "w") as f:
        json.dump(saved[model + " [rgb]"], f)
    results = eval_seg.main(["--model", model, "--images", data[0], "--masks", data[1],
                             "--path", "rgb", "--reference", ref])
    assert results[0][1]["d_iou_max"] == 0.0
    assert "|dIoU| max" in capsys.readouterr().out


def test_bad_model_and_data_give_clear_errors(tmp_path, data, capsys):
    with pytest.raises(FileNotFoundError, match="model not found"):
        sr.OnnxRgbRunner(str(tmp_path / "missing.onnx"))
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        eval_seg.evaluate_images(sr.OnnxRgbRunner(tiny_model(tmp_path / "m.onnx", 64, 48)),
                                 str(tmp_path / "nope"), data[1])
    for argv, msg in ((["--model", "m.onnx", "--path", "nv12"], "invalid choice"),
                      (["--path", "rgb"], "required: --model")):
        with pytest.raises(SystemExit):
            eval_seg.parse_args(argv)
        assert msg in capsys.readouterr().err


def test_resize_modes_differ_by_the_half_pixel():
    img = np.tile(np.arange(8, dtype=np.uint8) * 10, (4, 1))[:, :, None].repeat(3, 2)
    mp = sr.resize_to_model(img, 4, 2, "mediapipe")
    lin = sr.resize_to_model(img, 4, 2, "linear")
    assert list(mp[0, :, 0]) == [0, 20, 40, 60]       # corner-aligned: samples x = 0, 2, 4, 6
    assert list(lin[0, :, 0]) == [5, 25, 45, 65]      # half-pixel centres: x = 0.5, 2.5, ...
    with pytest.raises(ValueError, match="resize mode"):
        sr.resize_to_model(img, 4, 2, "cubic")


def test_aipp_helpers_on_the_repo_config():
    text = sr.read_aipp(sr.DEFAULT_AIPP)
    sub, scale = sr.aipp_normalisation(text)
    assert np.allclose(sub, 0) and np.allclose(scale, 1 / 255.0)
    resized = sr.aipp_values(sr.aipp_for_size(text, 256, 256))
    assert (resized["src_image_size_w"], resized["src_image_size_h"]) == (256, 256)
    added = sr.aipp_values(sr.aipp_for_size("aipp_op {\n  input_format: 1\n}\n", 32, 16))
    assert (added["src_image_size_w"], added["src_image_size_h"]) == (32, 16)


def test_fn_and_torch_runners_see_nchw_rgb_and_prior():
    import torch
    seen = {}

    def fn(image, prev):
        seen["image"], seen["prev"] = image, prev
        return image[:, :1] * 0 + prev
    runner = sr.FnRunner(fn, (8, 6), feedback=True)
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 2] = 255                                  # pure red in BGR
    prev = np.full((6, 8), 0.25, np.float32)
    out = runner(bgr, prev)
    assert seen["image"].shape == (1, 3, 6, 8) and seen["prev"].shape == (1, 1, 6, 8)
    assert np.allclose(seen["image"][0, 0], 1.0) and np.allclose(seen["image"][0, 2], 0.0)
    assert out.shape == (6, 8) and np.allclose(out, 0.25)

    class Net(torch.nn.Module):
        def forward(self, image, prev):
            return (torch.sigmoid(20 * (image[:, :1] - image[:, 2:3])) + 0 * prev,)
    net = Net().train()
    t = sr.TorchRunner(net, (8, 6), feedback=True)
    a = t(bgr, prev)
    assert a.shape == (6, 8) and a.min() > 0.99 and net.training
