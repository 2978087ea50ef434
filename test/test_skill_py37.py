"""Device code (main.py, utils/) runs on Python 3.7 with numpy, OpenCV and hilens only."""
import ast
import os
import subprocess
import sys

import pytest

from test_skill_support import ROOT

VERMIN = os.path.join(os.path.dirname(sys.executable), "vermin")
DEVICE_FILES = ["main.py"] + sorted(os.path.join("utils", n)
                                    for n in os.listdir(os.path.join(ROOT, "utils"))
                                    if n.endswith(".py"))
ALLOWED_THIRD_PARTY = {"numpy", "cv2", "hilens", "utils"}


def run_vermin(*paths, extra=()):
    cmd = [VERMIN, "-t=3.7-", "--no-tips", "--violations"] + list(extra) + list(paths)
    return subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)


@pytest.mark.parametrize("extra", [(), ("--eval-annotations",)])
def test_vermin_reports_no_violations(extra):
    res = run_vermin("main.py", "utils", extra=extra)
    assert res.returncode == 0 and "not met" not in res.stdout, res.stdout


def test_vermin_check_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    if (y := x):\n        return y\n")
    res = run_vermin(str(bad))
    assert res.returncode != 0 and "3.8" in res.stdout


@pytest.mark.parametrize("path", DEVICE_FILES)
def test_parses_with_python_37_grammar_and_imports_only_device_modules(path):
    with open(os.path.join(ROOT, path)) as f:
        tree = ast.parse(f.read(), path, feature_version=(3, 7))
    stdlib = set(sys.stdlib_module_names)
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in stdlib or top in ALLOWED_THIRD_PARTY, "%s imports %s" % (path, name)
