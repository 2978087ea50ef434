"""utils/config.py: every key's type, default and validation; console and CLI sources."""
import os

import pytest

from utils import config

from test_skill_support import ROOT

# One value that must be accepted and one that must be rejected, for every key.
GOOD_BAD = {
    "input": ("0", 3.5j),
    "output": ("out/x.mp4", ["hdmi"]),
    "loop": ("yes", "sometimes"),
    "max_frames": ("25", "-1"),
    "alpha_out": ("out/alpha", {"a": 1}),
    "progress": ("on", "2"),
    "stats_interval": ("10", "-5"),
    "model": ("model/selfie_landscape.om", None),
    "model_width": ("320", "255"),
    "model_height": ("180", "32"),
    "segmenter": ("selfie", "both"),
    "detector_model": ("model/other_detector.om", 7.5j),
    "segmenter_model": ("model/other_segmenter.om", ["x"]),
    "max_people": ("1", "0"),
    "detect_interval": ("25", "0"),
    "detect_score": ("0.7", "1.5"),
    "track_presence": ("0.3", "-0.1"),
    "keep_presence": ("0.2", "2"),
    "matte_height": ("360", "287"),
    "closeup": ("0.6", "-1"),
    "selfie_hold": ("0.05", "1.5"),
    "feedback": ("false", "maybe"),
    "prior_decay": ("0.8", "1.5"),
    "prior_floor": ("0.1", "0.99"),
    "scene_cut": ("12.5", "abc"),
    "cleanup": ("false", "yes please"),
    "cleanup_threshold": ("0.9", "nan"),
    "erode_size": ("5", "4"),
    "dilate_size": ("11", "0"),
    "threshold": ("0", "-"),
    "threshold_low": ("0.1", "1.2"),
    "threshold_high": ("0.9", "inf"),
    "history": ("0.3", "0.99"),
    "history_motion": ("5", "0.1"),
    "history_bridge": ("4", "1.5"),
    "upsample": ("bilinear", "bicubic"),
    "guided_radius": ("4", "0"),
    "guided_eps": ("0.01", "0"),
    "background": ("blur", "data/does-not-exist.jpg"),
    "blur_size": ("15", "8"),
    "view": ("side_by_side", "pip"),
}


def final(key, value, base_dir=ROOT):
    """A parsed value as load_config hands it out: path keys resolved against the skill folder."""
    return key.resolve(value, base_dir, None) if key.resolve is not None else value


def test_every_key_is_covered_and_documented():
    assert set(GOOD_BAD) == set(config.KEY_BY_NAME)
    for k in config.KEYS:
        assert k.doc and k.kind in ("bool", "int", "float", "str", "choice")
        assert k.flag == "--" + k.name.replace("_", "-")
        # defaults are valid values of their own key
        assert k.parse(k.default, ROOT) == k.default
        assert k.parse(k.pc_default, ROOT) == k.pc_default


@pytest.mark.parametrize("name", sorted(GOOD_BAD))
def test_good_value_is_taken_from_the_console(name):
    good = GOOD_BAD[name][0]
    cfg = config.load_config({name: {"value": good}}, None, base_dir=ROOT)
    key = config.KEY_BY_NAME[name]
    expected = key.parse(good, ROOT)
    assert getattr(cfg, name) == final(key, expected)
    assert expected != key.default


@pytest.mark.parametrize("name", sorted(GOOD_BAD))
def test_bad_value_logs_one_line_and_keeps_the_default(name, logged):
    bad = GOOD_BAD[name][1]
    cfg = config.load_config({name: {"value": bad}}, None, base_dir=ROOT)
    key = config.KEY_BY_NAME[name]
    assert getattr(cfg, name) == final(key, key.default)
    errors = [m for lvl, m in logged if lvl == "error"]
    assert len(errors) == 1, logged
    assert name in errors[0] and "invalid" in errors[0] and repr(key.default) in errors[0]


@pytest.mark.parametrize("name", sorted(GOOD_BAD))
def test_cli_flag_mirrors_the_key(name, logged):
    good, bad = GOOD_BAD[name]
    key = config.KEY_BY_NAME[name]
    cfg = config.load_config(None, [key.flag, str(good)], base_dir=ROOT)
    here = os.getcwd()  # command-line paths are relative to the current folder
    assert getattr(cfg, name) == final(key, key.parse(good, here), here)
    if isinstance(bad, str) and not bad.startswith("-"):
        cfg = config.load_config(None, [key.flag, bad], base_dir=ROOT)
        assert getattr(cfg, name) == final(key, key.pc_default)
        assert any(name in m for lvl, m in logged if lvl == "error")


def test_device_and_pc_defaults():
    dev = config.load_config(None, None)
    pc = config.load_config(None, [])
    assert dev.input == "" and dev.output == "hdmi" and not dev.progress
    # `python3 main.py` (no flags) must start the device's camera -> HDMI skill; the
    # simulator plays test/cameras0.mp4 as the built-in camera
    assert pc.input == "" and pc.output == "hdmi" and pc.progress
    assert os.path.isfile(os.path.join(ROOT, "test", "cameras0.mp4"))
    assert os.path.isfile(os.path.join(ROOT, dev.background))


def test_precedence_default_console_cli():
    cfg = config.load_config({"blur_size": {"value": "15"}, "view": {"value": "side_by_side"}},
                             ["--blur-size", "21"])
    assert cfg.blur_size == 21  # CLI beats console
    assert cfg.view == "side_by_side"  # console beats default


def test_console_values_as_json_types_and_plain_values():
    cfg = config.load_config({"loop": {"value": True}, "max_frames": {"value": 7},
                              "prior_decay": {"value": 1}, "input": {"value": 0},
                              "scene_cut": 0}, None)
    assert cfg.loop is True and cfg.max_frames == 7 and cfg.prior_decay == 1.0
    assert cfg.input == "0" and cfg.scene_cut == 0.0


def test_bool_flag_without_value():
    assert config.load_config(None, ["--loop"]).loop is True
    assert config.load_config(None, ["--loop", "false"]).loop is False


def test_unknown_key_and_bad_items(logged):
    cfg = config.load_config({"colour": {"value": "red"}, "view": {"nope": 1}}, None)
    assert cfg.view == "result"
    text = " ".join(m for _, m in logged)
    assert "colour" in text and "view" in text
    cfg = config.load_config(["not", "a", "dict"], None)
    assert cfg.as_dict() == config.load_config(None, None).as_dict()


@pytest.mark.parametrize("lo,hi,vals", [
    ("threshold_low", "threshold_high", ("0.7", "0.3")),
    ("erode_size", "dilate_size", ("9", "5")),
])
def test_ordered_pairs_fall_back_together(lo, hi, vals, logged):
    cfg = config.load_config({lo: {"value": vals[0]}, hi: {"value": vals[1]}}, None)
    assert getattr(cfg, lo) == config.KEY_BY_NAME[lo].default
    assert getattr(cfg, hi) == config.KEY_BY_NAME[hi].default
    assert len([m for lvl, m in logged if lvl == "error" and lo in m and hi in m]) == 1


def test_paths_are_resolved_once_against_the_skill_folder(tmp_path, monkeypatch):
    skill, models, cwd = tmp_path / "skill", tmp_path / "models", tmp_path / "cwd"
    for d in (skill / "model", skill / "data", skill / "frames", models, cwd):
        d.mkdir(parents=True)
    (skill / "model" / "m.onnx").write_bytes(b"")  # the simulator's file; no .om anywhere
    (skill / "data" / "bg.png").write_bytes(b"")
    (models / "other.om").write_bytes(b"")
    (cwd / "here.mp4").write_bytes(b"")
    monkeypatch.chdir(str(cwd))
    dirs = dict(base_dir=str(skill), model_dir=str(models))
    cfg = config.load_config({"input": "frames", "output": "out/r.mp4", "alpha_out": "out/a",
                              "model": "model/m.om", "background": "data/bg.png"}, None, **dirs)
    assert (cfg.input, cfg.output, cfg.alpha_out, cfg.model, cfg.background) == (
        str(skill / "frames"), str(skill / "out" / "r.mp4"), str(skill / "out" / "a"),
        str(skill / "model" / "m.om"), str(skill / "data" / "bg.png"))
    # a model only in the model folder; a file typed relative to the current folder
    cfg = config.load_config(None, ["--model", "x/other.om", "--input", "here.mp4"], **dirs)
    assert cfg.model == str(models / "other.om") and cfg.input == str(cwd / "here.mp4")
    # a missing input is named with its full path (the camera says it is not found): on the
    # command line relative to the current folder, in the skill config to the skill folder
    assert config.load_config(None, ["--input", "gone.mp4"], **dirs).input == \
        str(cwd / "gone.mp4")
    assert config.load_config({"input": "gone.mp4"}, None, **dirs).input == \
        str(skill / "gone.mp4")
    cfg = config.load_config({"output": "a.mp4"}, ["--alpha-out", "a", "--output", "b.mp4"],
                             **dirs)
    assert (cfg.output, cfg.alpha_out) == (str(cwd / "b.mp4"), str(cwd / "a"))
    # values that are not files stay as they are
    for value in ("", "0", "rtsp://cam/1", "IPC1"):
        assert config.load_config({"input": value}, None, **dirs).input == value
    for value in ("hdmi", "HDMI", "rtmp://host/live"):
        assert config.load_config({"output": value}, None, **dirs).output == value
    for value in ("blur", "#102030", "alpha"):
        assert config.load_config({"background": value}, None, **dirs).background == value
    assert config.load_config(None, None, **dirs).alpha_out == ""


def test_replace_rejects_unknown_keys():
    cfg = config.load_config(None, None)
    assert cfg.replace(view="side_by_side").view == "side_by_side"
    with pytest.raises(KeyError):
        cfg.replace(nonsense=1)


def test_markdown_table_lists_every_key():
    table = config.markdown_table()
    for k in config.KEYS:
        assert "`%s`" % k.name in table and k.flag in table
