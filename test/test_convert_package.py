"""tools/package/package_skill.py on a temporary skill tree."""
import pathlib
import subprocess
import sys
import zipfile

import pytest

from tools.package import package_skill

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "skill"
    files = {
        "main.py": "def run(work_path):\n    pass\n",
        "utils/__init__.py": "",
        "utils/compose.py": "X = 1\n",
        "utils/__pycache__/compose.cpython-311.pyc": "junk",
        "utils/.hidden": "x",
        "model/matting.om": "OM",
        "model/matting.onnx": "ONNX",
        "model/matting.prototxt": "net",
        "model/MODEL.md": "# card\n",
        "aipp.cfg": "aipp_op { }\n",
        "data/backgrounds/beach.jpg": "jpg",
        "tools/model/export_caffe.py": "",
        "test/test_x.py": "",
        "stubs/hilens/__init__.py": "",
        "README.md": "",
        ".git/config": "",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_convert_package_holds_exactly_the_device_files(tree, tmp_path):
    out = tmp_path / "dist" / "skill.zip"
    names = package_skill.build_zip(tree, out)
    want = ["aipp.cfg", "data/backgrounds/beach.jpg", "main.py", "model/MODEL.md",
            "model/matting.om", "utils/__init__.py", "utils/compose.py"]
    assert names == want
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == want
        assert zf.read("model/matting.om") == b"OM"
        assert zf.testzip() is None
    again = tmp_path / "again.zip"
    package_skill.build_zip(tree, again)
    assert again.read_bytes() == out.read_bytes()  # reproducible


def test_convert_package_needs_an_om(tree, tmp_path):
    (tree / "model" / "matting.om").unlink()
    with pytest.raises(package_skill.PackageError, match="no model/\\*.om"):
        package_skill.build_zip(tree, tmp_path / "a.zip")
    names = package_skill.build_zip(tree, tmp_path / "a.zip", allow_missing_om=True)
    assert not any(n.endswith(".om") for n in names)


@pytest.mark.parametrize("missing", ["main.py", "utils", "aipp.cfg", "data"])
def test_convert_package_names_a_missing_part(tree, tmp_path, missing):
    import shutil
    path = tree / missing
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    proc = subprocess.run([sys.executable, "-m", "tools.package.package_skill", "--root",
                           str(tree), "--out-dir", str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "package_skill: missing %s in %s (the device needs it)" \
        % (missing, tree)


def test_convert_package_cli_writes_the_zip(tree, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.package.package_skill", "--root",
                           str(tree), "--out-dir", str(tmp_path), "--name", "demo"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "demo.zip").is_file()
    assert "wrote %s (7 files," % (tmp_path / "demo.zip") in proc.stdout


def test_convert_package_says_which_person_model_is_missing(tree, tmp_path):
    # the fixture has matting.om only: the default segmenter (auto) would run the selfie model
    # alone on the device, so the packager says so, per missing file
    proc = subprocess.run([sys.executable, "-m", "tools.package.package_skill", "--root",
                           str(tree), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "missing" in line]
    assert len(warned) == 2
    assert "person_detector.om missing" in warned[0] and "person_segmenter.om" in warned[1]
    for name in ("person_detector.om", "person_segmenter.om"):
        (tree / "model" / name).write_text("OM")
    proc = subprocess.run([sys.executable, "-m", "tools.package.package_skill", "--root",
                           str(tree), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "missing" not in proc.stderr, proc.stderr
