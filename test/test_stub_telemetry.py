"""Nothing phones home: ONNX Runtime (>= 1.29 on Linux) writes a device id and an event store
under ~/.cache/Microsoft/ and uploads usage events unless ORT_DISABLE_TELEMETRY is set before
it is imported. The simulator sets it; each case runs in a fresh interpreter with HOME and
XDG_CACHE_HOME in a temporary folder and no CI variables (ORT stays quiet under CI=...)."""
import os
import pathlib
import subprocess
import sys
import tempfile

import onnx
import pytest
from onnx import TensorProto, helper


def tiny_model(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.save(model, str(path))


def run_clean(tmp_path, code):
    """Run `code` with a private HOME; return (files ORT left there, stderr)."""
    home = pathlib.Path(tempfile.mkdtemp(prefix="home-", dir=str(tmp_path)))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "XDG_CACHE_HOME": str(home / ".cache"), "LANG": "C.UTF-8"}
    if os.environ.get("PYTHONPATH"):  # a source-tree hilens during development
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    res = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, timeout=120,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert res.returncode == 0, res.stderr
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()), res.stderr


@pytest.fixture
def model_dir(tmp_path):
    tiny_model(tmp_path / "tiny.onnx")
    return tmp_path


def test_control_plain_onnxruntime_writes_its_store(model_dir):
    # Proves the check below can see the store: without the simulator ORT writes it.
    files, _ = run_clean(model_dir, "import onnxruntime as ort\n"
                                    "ort.InferenceSession('tiny.onnx', providers=['CPUExecutionProvider'])\n")
    assert any(f.startswith(".cache/Microsoft/") for f in files), files


@pytest.mark.parametrize("code", [
    # a skill run: hilens.Model creates the session
    "import hilens\nhilens.init('x')\nm = hilens.Model('tiny.om')\n"
    "import numpy as np\nassert m.infer([np.ones(4, np.float32)])[0].sum() == 4\n",
    # a tool: the simulator's session helper, imported before anything else
    "from hilens.onnxrt import inference_session\n"
    "s = inference_session('tiny.onnx')\nassert s.get_inputs()[0].name == 'x'\n",
    # a tool that imports hilens first and onnxruntime itself afterwards
    "import hilens\nimport onnxruntime as ort\n"
    "ort.InferenceSession('tiny.onnx', providers=['CPUExecutionProvider'])\n",
])
def test_simulator_runs_leave_nothing_under_cache_microsoft(model_dir, code):
    files, _ = run_clean(model_dir, code)
    assert files == [], "ONNX Runtime telemetry store written: %s" % files


def test_explicit_opt_in_is_respected_and_late_import_is_reported(model_dir):
    # ORT_DISABLE_TELEMETRY=0 set by the user wins (setdefault), ...
    files, _ = run_clean(model_dir, "import os\nos.environ['ORT_DISABLE_TELEMETRY'] = '0'\n"
                                    "import hilens\nhilens.Model('tiny.om')\n")
    assert any(f.startswith(".cache/Microsoft/") for f in files), files
    # ... and a tool that imported onnxruntime before hilens is told why the store exists.
    _, err = run_clean(model_dir, "import onnxruntime\nfrom hilens.onnxrt import inference_session\n"
                                  "inference_session('tiny.onnx')\n")
    assert "ORT_DISABLE_TELEMETRY" in err and "before" in err, err
