"""The shape of tools/: packages run with `python -m`, one module that knows the paths, and the
MediaPipe-venv tools importable without torch or onnx."""
import importlib
import os
import pkgutil
import re
import subprocess
import sys

import pytest

import tools
from tools import paths

ROOT = paths.REPO
SOURCES = sorted((ROOT / "tools").rglob("*.py"))
MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(tools.__path__, "tools.")
                 if not name.endswith(".__main__"))
# modules whose main(argv) parses flags (fetch_mediapipe's main takes none and downloads)
CLIS = ["tools.bench.bench", "tools.evaluate.eval_mediapipe", "tools.evaluate.eval_seg",
        "tools.evaluate.skill_eval", "tools.model.check_caffe_boundary",
        "tools.model.check_onnx_ascend", "tools.model.export_caffe", "tools.model.export_onnx",
        "tools.model.make_reference_fixtures", "tools.model.mediapipe_import",
        "tools.package.make_sample", "tools.package.package_skill", "tools.train.cli"]


def test_tools_are_packages_by_the_work():
    assert {m.split(".")[1] for m in MODULES} == {"bench", "evaluate", "model", "package",
                                                  "paths", "train"}
    assert not [p.name for p in (ROOT / "tools").glob("*.py")
                if p.name not in ("__init__.py", "paths.py")]
    for pkg in ("bench", "evaluate", "model", "package", "train"):
        assert (ROOT / "tools" / pkg / "__init__.py").is_file()


def test_no_path_tricks_outside_paths_py():
    for path in SOURCES:
        text = path.read_text()
        name = path.relative_to(ROOT)
        assert "sys.path" not in text, name
        if path.name != "paths.py":
            # a module's own __file__ (not another package's, e.g. mediapipe.__file__)
            assert not re.search(r"(?<![\w.])__file__", text), \
                "%s: the repository is tools.paths.REPO" % name
            assert not re.search(r"""["']shared["']""", text), \
                "%s: the shared data is tools.paths.shared_data()" % name


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name):
    importlib.import_module(name)


@pytest.mark.parametrize("name", CLIS)
def test_every_cli_answers_help(name, capsys):
    module = importlib.import_module(name)
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out
    assert re.search(r"""^if __name__ == ["']__main__["']:""", open(module.__file__).read(),
                     re.M), name


def test_python_dash_m_from_the_repository_root():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    for argv in (["-m", "tools.train", "--help"], ["-m", "tools.evaluate.eval_seg", "--help"]):
        proc = subprocess.run([sys.executable] + argv, cwd=ROOT, env=env, capture_output=True,
                              text=True)
        assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr


BLOCKER = """
import sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'onnx', 'onnxruntime', 'tflite'):
            raise ImportError('%s is not in the MediaPipe venv' % name)

sys.meta_path.insert(0, Blocker())
import tools.evaluate.eval_mediapipe as ev
import tools.model.make_reference_fixtures as ref
ev.main(['--help'])
"""


def test_mediapipe_venv_tools_need_neither_torch_nor_onnx():
    # eval_mediapipe and make_reference_fixtures run in .venv-mp (mediapipe 0.10.14 pins
    # protobuf < 5; there is no torch and no onnx): their packages must not pull those in
    proc = subprocess.run([sys.executable, "-c", BLOCKER], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr
    # and the blocker does block
    proc = subprocess.run([sys.executable, "-c", BLOCKER.replace(
        "import tools.evaluate", "import tools.model.selfie_net\nimport tools.evaluate")],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "torch is not in the MediaPipe venv" in proc.stderr


def test_shared_data_moves_with_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.DATA_ENV, raising=False)
    assert paths.shared_data() == ROOT.parent / "shared" / "data"
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    assert paths.shared_data() == tmp_path
    assert [paths.hsd(), paths.ccp(), paths.davis(), paths.videos()] == \
        [tmp_path / n for n in ("hsd", "ccp", "davis", "videos")]
    assert paths.video("a.mp4") == tmp_path / "videos" / "a.mp4"
    assert paths.cache("mediapipe") == ROOT / ".cache" / "mediapipe"


def test_missing_shared_data_is_one_line_naming_folder_and_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(paths.MissingData) as exc:
        paths.require(paths.hsd() / "images", "hsd photos")
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("hsd photos not found: %s" % (tmp_path / "nowhere" / "hsd" / "images"))
    assert paths.DATA_ENV in msg
    # elsewhere: only the path, no word about the shared data
    with pytest.raises(FileNotFoundError) as exc:
        paths.require(tmp_path / "mine", "model")
    assert str(exc.value) == "model not found: %s" % (tmp_path / "mine")
    assert paths.require(tmp_path, "folder") == tmp_path


@pytest.mark.parametrize("argv,missing", [
    (["tools.evaluate.eval_seg", "--model", "model/matting.onnx", "--path", "rgb"], "hsd/images"),
    (["tools.evaluate.eval_mediapipe"], "hsd/images"),
    (["tools.evaluate.skill_eval", "--suite", "davis"], "davis"),
    (["tools.evaluate.skill_eval", "--suite", "walk"], "videos/one-by"),
    (["tools.evaluate.skill_eval", "--suite", "closeup"], "hsd/images"),
    (["tools.bench.bench", "--frames", "1"], "videos/one-by"),
    (["tools.train", "--quiet"], "hsd"),
])
def test_tools_report_the_variable_when_the_default_data_is_missing(tmp_path, argv, missing):
    # the defaults are read when the tool starts, so a fresh process sees the variable
    env = dict(os.environ, **{paths.DATA_ENV: str(tmp_path)})
    proc = subprocess.run([sys.executable, "-m"] + argv, cwd=ROOT, env=env, capture_output=True,
                          text=True)
    lines = [ln for ln in proc.stderr.splitlines() if "[SFW]" not in ln]  # simulator log lines
    assert proc.returncode in (1, 2) and len(lines) == 1, proc.stderr
    assert str(tmp_path / missing) in lines[0] and paths.DATA_ENV in lines[0], lines[0]
