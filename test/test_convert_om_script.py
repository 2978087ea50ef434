"""convert_om.sh against fake `omg` / `atc` executables that record their arguments."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PERSON_MODELS = ("person_detector", "person_segmenter")
FAKE_TOOL = """#!/bin/sh
# records its arguments one per line, then writes the .om named by --output=
for arg in "$@"; do echo "$arg" >> "$(dirname "$0")/{name}.args"; done
for arg in "$@"; do
    case "$arg" in --output=*) [ -n "$FAKE_NO_OM" ] || : > "${{arg#--output=}}.om" ;; esac
done
exit ${{FAKE_EXIT:-0}}
"""


@pytest.fixture(scope="module")
def person_caffe(tmp_path_factory):
    """The person models' Caffe files (not committed: the exporter writes them)."""
    from tools.model import export_pose_caffe
    out = tmp_path_factory.mktemp("person_caffe")
    export_pose_caffe.export_all(out)
    return out


@pytest.fixture
def skill(tmp_path, person_caffe):
    """A skill folder with the script, tools/ (for the ONNX shape reader), the models the skill
    ships (the large person models linked, not copied) and their AIPP configs, plus a bin/ with
    fake omg and atc."""
    root = tmp_path / "skill"
    (root / "model").mkdir(parents=True)
    shutil.copy(ROOT / "convert_om.sh", root / "convert_om.sh")
    shutil.copytree(ROOT / "tools", root / "tools",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "aipp.cfg", root / "aipp.cfg")
    for name in ("matting.prototxt", "matting.caffemodel", "matting.onnx"):
        shutil.copy(ROOT / "model" / name, root / "model" / name)
    for stem in PERSON_MODELS:
        for ext in ("prototxt", "caffemodel", "onnx"):
            source = person_caffe if ext != "onnx" else ROOT / "model"
            (root / "model" / ("%s.%s" % (stem, ext))).symlink_to(
                source / ("%s.%s" % (stem, ext)))
        shutil.copy(ROOT / "model" / (stem + ".aipp.cfg"), root / "model" / (stem + ".aipp.cfg"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("omg", "atc"):
        path = bin_dir / tool
        path.write_text(FAKE_TOOL.format(name=tool))
        path.chmod(0o755)
    return root, bin_dir


def run(skill, *args, tools=("omg", "atc"), env_extra=None, python=sys.executable):
    root, bin_dir = skill
    for tool in ("omg", "atc"):
        if tool not in tools:
            (bin_dir / tool).unlink(missing_ok=True)
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % bin_dir, PYTHON=python)
    env.update(env_extra or {})
    return subprocess.run([shutil.which("bash"), "convert_om.sh", *args], cwd=root, env=env,
                          capture_output=True, text=True)


def recorded(skill, tool):
    path = skill[1] / (tool + ".args")
    return path.read_text().splitlines() if path.exists() else None


def _omg_args(stem, aipp):
    return ["--framework=0", "--model=model/%s.prototxt" % stem,
            "--weight=model/%s.caffemodel" % stem, "--insert_op_conf=" + aipp,
            "--output=model/" + stem]


def test_convert_om_caffe_converts_every_model_with_its_own_aipp(skill):
    proc = run(skill)
    assert proc.returncode == 0, proc.stderr
    calls = [_omg_args("matting", "aipp.cfg"),
             _omg_args("person_detector", "model/person_detector.aipp.cfg"),
             _omg_args("person_segmenter", "model/person_segmenter.aipp.cfg")]
    assert recorded(skill, "omg") == [arg for call in calls for arg in call]
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["omg " + " ".join(call) for call in calls]  # the exact commands
    for stem in ("matting",) + PERSON_MODELS:
        assert (skill[0] / "model" / (stem + ".om")).exists()
        assert "wrote model/%s.om" % stem in lines
    assert recorded(skill, "atc") is None


def test_convert_om_one_model_with_model(skill):
    proc = run(skill, "--model", "model/person_detector")
    assert proc.returncode == 0, proc.stderr
    assert recorded(skill, "omg") == _omg_args("person_detector",
                                               "model/person_detector.aipp.cfg")
    # a model without an AIPP config of its own gets the shared aipp.cfg, as in the simulator
    (skill[0] / "model" / "person_segmenter.aipp.cfg").unlink()
    (skill[1] / "omg.args").unlink()
    proc = run(skill, "--model", "model/person_segmenter")
    assert proc.returncode == 0, proc.stderr
    assert "--insert_op_conf=aipp.cfg" in recorded(skill, "omg")


def test_convert_om_refuses_per_model_options_for_several_models(skill):
    for option in ("--aipp", "--output"):
        proc = run(skill, option, "x")
        assert proc.returncode == 2 and "%s needs --model" % option in proc.stderr
    assert recorded(skill, "omg") is None


def test_convert_om_onnx_converts_every_model_with_shapes_from_the_files(skill):
    proc = run(skill, "onnx", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    assert "--input_shape=image:1,3,224,224 --insert_op_conf=model/person_detector.aipp.cfg" \
        in lines[1]
    assert "--input_shape=image:1,3,256,256 --insert_op_conf=model/person_segmenter.aipp.cfg" \
        in lines[2]


def test_convert_om_onnx_calls_atc_with_shapes_from_the_file(skill):
    proc = run(skill, "onnx", "--model", "model/matting", "--output", "out/matting_atc")
    assert proc.returncode == 0, proc.stderr
    want = ["--framework=5", "--model=model/matting.onnx", "--output=out/matting_atc",
            "--soc_version=Ascend310", "--input_format=NCHW",
            "--input_shape=image:1,3,144,256;prev_alpha:1,1,144,256",
            "--insert_op_conf=aipp.cfg"]
    assert recorded(skill, "atc") == want
    assert "'--input_shape=image:1,3,144,256;prev_alpha:1,1,144,256'" in proc.stdout
    assert (skill[0] / "out" / "matting_atc.om").exists()


def test_convert_om_onnx_input_shape_follows_the_model(skill):
    shutil.copy(ROOT / "model" / "selfie_square.onnx", skill[0] / "model" / "square.onnx")
    proc = run(skill, "onnx", "--model", "model/square")
    assert proc.returncode == 0, proc.stderr
    assert "--input_shape=image:1,3,256,256" in recorded(skill, "atc")
    # without a Python that reads ONNX, the documented default is used, and said so: a PATH
    # with the fake tools and the few system programs the script needs, but no python
    sysbin = skill[1].parent / "sysbin"
    sysbin.mkdir()
    for prog in ("bash", "dirname", "sed", "mkdir", "rm"):
        (sysbin / prog).symlink_to(shutil.which(prog))
    for prog in ("basename",):
        (sysbin / prog).symlink_to(shutil.which(prog))
    proc = run(skill, "onnx", python="/nonexistent/python",
               env_extra={"PATH": "%s:%s" % (skill[1], sysbin)})
    assert proc.returncode == 0, proc.stderr
    assert "assuming --input_shape=image:1,3,144,256;prev_alpha:1,1,144,256 for " \
        "model/matting.onnx" in proc.stderr
    assert "assuming --input_shape=image:1,3,224,224 for model/person_detector.onnx" in proc.stderr


def test_convert_om_options_pick_other_files(skill):
    root = skill[0]
    shutil.copy(root / "aipp.cfg", root / "other.cfg")
    for ext in ("prototxt", "caffemodel"):
        shutil.copy(root / "model" / ("matting." + ext), root / ("net." + ext))
    proc = run(skill, "caffe", "--model", "net.prototxt", "--aipp=other.cfg", "--output", "x")
    assert proc.returncode == 0, proc.stderr
    assert recorded(skill, "omg") == ["--framework=0", "--model=net.prototxt",
                                      "--weight=net.caffemodel", "--insert_op_conf=other.cfg",
                                      "--output=x"]


@pytest.mark.parametrize("mode,missing,needle", [
    ("caffe", "model/matting.prototxt", "model/matting.prototxt"),
    ("caffe", "model/matting.caffemodel", "model/matting.caffemodel"),
    ("caffe", "aipp.cfg", "aipp.cfg"),
    ("onnx", "model/matting.onnx", "model/matting.onnx"),
    ("onnx", "aipp.cfg", "aipp.cfg"),
    ("caffe", "model/person_segmenter.caffemodel", "model/person_segmenter.caffemodel"),
    ("onnx", "model/person_detector.onnx", "model/person_detector.onnx"),
])
def test_convert_om_refuses_a_missing_file(skill, mode, missing, needle):
    (skill[0] / missing).unlink()
    proc = run(skill, mode)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "missing" in lines[0], proc.stderr
    assert recorded(skill, "omg") is None and recorded(skill, "atc") is None


@pytest.mark.parametrize("mode,tool", [("caffe", "omg"), ("onnx", "atc")])
def test_convert_om_refuses_a_missing_tool(skill, mode, tool):
    proc = run(skill, mode, tools=())
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convert_om.sh: %s not found" % tool)


def test_convert_om_reports_tool_failure_and_missing_output(skill):
    proc = run(skill, env_extra={"FAKE_EXIT": "3"})
    assert proc.returncode != 0 and "omg failed (exit 3)" in proc.stderr
    proc = run(skill, env_extra={"FAKE_NO_OM": "1"})
    assert proc.returncode != 0 and "model/matting.om was not written" in proc.stderr


def test_convert_om_bad_arguments_and_help(skill):
    proc = run(skill, "tensorflow")
    assert proc.returncode == 2 and "unknown argument 'tensorflow'" in proc.stderr
    proc = run(skill, "--model")
    assert proc.returncode == 2 and "--model needs a value" in proc.stderr
    proc = run(skill, "--help")
    assert proc.returncode == 0 and "--insert_op_conf" not in proc.stderr
    assert "./convert_om.sh [caffe|onnx]" in proc.stdout


@pytest.mark.parametrize("mode,verdicts", [
    ("caffe", ["OK: 217 layers inside", "OK: 288 layers inside", "OK: 457 layers inside"]),
    ("onnx", ["matting.onnx: OK for atc", "person_detector.onnx: OK for atc",
              "person_segmenter.onnx: OK for atc"])])
def test_convert_om_check_passes_every_shipped_model(skill, mode, verdicts):
    proc = run(skill, mode, "--check", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    for verdict in verdicts:
        assert verdict in proc.stderr


def test_convert_om_check_stops_on_a_boundary_violation(skill):
    proto = skill[0] / "model" / "matting.prototxt"
    proto.write_text(proto.read_text().replace('type: "Sigmoid"', 'type: "ReLU6"', 1))
    proc = run(skill, "--check")
    assert proc.returncode != 0
    assert "not in the boundary table" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("convert_om.sh: caffe model is outside")
    assert recorded(skill, "omg") is None


@pytest.mark.parametrize("mode,verdict", [("caffe", "OK: 217 layers inside"),
                                          ("onnx", "OK for atc --framework=5")])
def test_convert_om_check_runs_from_another_folder(skill, tmp_path, mode, verdict):
    # the checkers are `python -m tools.model...` modules: they must be found from the script's
    # folder, not from the caller's working folder
    root, bin_dir = skill
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % bin_dir, PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([shutil.which("bash"), str(root / "convert_om.sh"), mode, "--check",
                           "--model", str(root / "model" / "matting"),
                           "--aipp", str(root / "aipp.cfg"), "--output", str(elsewhere / "m")],
                          cwd=elsewhere, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert verdict in proc.stderr
    assert (elsewhere / "m.om").exists()
    if mode == "onnx":
        assert "--input_shape=image:1,3,144,256;prev_alpha:1,1,144,256" in recorded(skill, "atc")
