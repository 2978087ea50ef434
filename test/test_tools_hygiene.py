"""Issue 14 on the tools side: no telemetry from the tools' own ONNX Runtime sessions, training
checkpoints loaded without running code, and tests that need the shared data say so in one
line when it is missing."""
import ast
import os
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def tool_files():
    return sorted(p for p in (ROOT / "tools").rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", tool_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_tools_import_onnxruntime_only_with_telemetry_off(path):
    """ONNX Runtime reads ORT_DISABLE_TELEMETRY once, at import: a tool that imports it
    directly, before anything imported hilens, writes a device id and an event store under
    ~/.cache/Microsoft/ and uploads usage events. hilens.onnxrt.import_onnxruntime() (or
    inference_session) sets the variable first (stubs/README.md, "No telemetry")."""
    tree = ast.parse(path.read_text(), str(path))
    direct = [n.lineno for n in ast.walk(tree)
              if (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "onnxruntime"
                                                   for a in n.names))
              or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "onnxruntime")]
    name = path.relative_to(ROOT) if ROOT in path.parents else path
    assert not direct, "%s imports onnxruntime directly at line(s) %s; use " \
                       "hilens.onnxrt.import_onnxruntime()" % (name, direct)


def test_the_check_catches_a_direct_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import onnxruntime as ort\n    return ort\n")
    with pytest.raises(AssertionError, match="line"):
        test_tools_import_onnxruntime_only_with_telemetry_off(bad.resolve())


def _tiny_hsd(root, n=4):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        img = np.full((120, 160, 3), 40 + 20 * i, np.uint8)
        mask = np.zeros((120, 160), np.uint8)
        mask[30:110, 50:110] = 255
        img[mask > 0] = 220
        cv2.imwrite(str(root / "images" / ("%03d.jpg" % i)), img)
        cv2.imwrite(str(root / "masks" / ("%03d.png" % i)), mask)
    return root


class Payload(object):
    """Pickles as a call of os.system: what a crafted last.pt would carry."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch %s" % self.marker,))


def _crafted(tmp_path):
    import torch
    marker = tmp_path / "code-ran"
    path = tmp_path / "run" / "last.pt"
    path.parent.mkdir()
    torch.save({"model": Payload(marker), "optimizer": {}, "step": 0, "history": {}}, str(path))
    return path, marker


def test_train_resume_refuses_a_crafted_checkpoint_without_running_it(tmp_path):
    import pickle

    from tools.train import cli, loop
    path, marker = _crafted(tmp_path)
    args = cli.parse_args(["--data", str(_tiny_hsd(tmp_path / "hsd")), "--run", str(path.parent),
                           "--init", "random", "--steps", "2", "--batch", "2", "--limit", "2",
                           "--no-val", "--quiet", "--distill", "0", "--resume"])
    with pytest.raises(pickle.UnpicklingError) as err:
        loop.train(args)
    assert not marker.exists(), "loading the checkpoint ran the code it carried"
    msg = str(err.value)
    assert "--resume" in msg and "last.pt" in msg and "not a plain checkpoint" in msg, msg
    assert "\n" not in msg


def test_the_command_line_ends_an_unsafe_checkpoint_with_one_line(tmp_path, monkeypatch):
    from tools.train import cli, loop
    path, marker = _crafted(tmp_path)
    monkeypatch.setattr(cli, "main", lambda argv=None: loop.load_checkpoint(path, "--init"))
    with pytest.raises(SystemExit) as stop:
        cli.run_cli([])
    assert not marker.exists()
    assert str(stop.value).startswith("python -m tools.train: error: --init: ")


@pytest.mark.parametrize("path", tool_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_tools_load_torch_files_weights_only(path):
    """torch.load(weights_only=False) unpickles anything: a crafted file runs code."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "load" and getattr(node.func.value, "id", "") == "torch":
            safe = [k for k in node.keywords if k.arg == "weights_only"
                    and isinstance(k.value, ast.Constant) and k.value.value is True]
            assert safe, "%s:%d: torch.load without weights_only=True" % (
                path.relative_to(ROOT), node.lineno)


def test_a_checkpoint_of_the_tool_still_loads(tmp_path):
    import torch

    from tools.train import loop
    state = {"model": {"w": torch.ones(2)}, "optimizer": {"state": {}, "param_groups": []},
             "step": 3, "history": {"loss": [0.5, 0.25], "parts": [{"loss": 0.5}], "val": []},
             "args": {"lr": 1e-3, "run": "runs/x", "resume": True, "init": None}}
    torch.save(state, str(tmp_path / "last.pt"))
    got = loop.load_checkpoint(tmp_path / "last.pt", "--resume")
    assert got["step"] == 3 and got["history"]["loss"] == [0.5, 0.25]
    assert torch.equal(got["model"]["w"], torch.ones(2))


def test_a_test_that_needs_missing_shared_data_fails_naming_it(tmp_path):
    env = dict(os.environ, MATTING_SHARED_DATA=str(tmp_path / "data"))
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test/test_convert_aipp.py", "-k", "nv21_path_equals_rgb_path"],
                         cwd=str(ROOT), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    assert res.returncode != 0, res.stdout  # fails, never skipped
    assert "needs %s" % (tmp_path / "data" / "hsd") in res.stdout, res.stdout
    assert "MATTING_SHARED_DATA" in res.stdout
    assert "Traceback" not in res.stdout and "MissingData" not in res.stdout, res.stdout
