"""tools/evaluate/skill_eval.py: the harness runs the skill's own FramePipeline on the scenes
and scores what it returns; the metrics and the scene bookkeeping on hand-built cases."""
import json

import cv2
import numpy as np
import pytest
from test_eval_support import BLUE, RED, make_shared_data, tiny_model

from tools import paths
from tools.evaluate import people as pp
from tools.evaluate import scenes as sc
from tools.evaluate import skill_eval as se
from tools.evaluate import video_metrics as vm
from utils.config import KEY_BY_NAME

SIZE = (256, 144)


def selfie_only():
    # once the person segmenter is a key, these tests are about the selfie path
    return ["--set", "segmenter=selfie"] if "segmenter" in KEY_BY_NAME else []


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    make_shared_data(root)
    models = root / "models"
    models.mkdir()
    return {"root": str(root),
            "good": tiny_model(models / "good.onnx", 256, 144, feedback=True, aipp=True)[:-5],
            "inverted": tiny_model(models / "inv.onnx", 256, 144, k=-12.0, aipp=True)[:-5],
            "sticky": tiny_model(models / "sticky.onnx", 256, 144, feedback=True, g=20.0,
                                 aipp=True)[:-5]}


@pytest.fixture
def data_env(shared, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, shared["root"])
    return shared


def run_cli(argv):
    return se.main(argv + ["--frame-size", "%dx%d" % SIZE] + selfie_only())


# -- the people's split ---------------------------------------------------------------------

def test_one_split_every_fifth_and_training_uses_it():
    from tools.train import data
    pairs = [("%03d" % i, "i%d" % i, "m%d" % i) for i in range(12)]
    train, val = pp.split(pairs)
    assert [p[0] for p in val] == ["004", "009"]
    assert len(train) == 10 and not set(train) & set(val)
    assert data.split_ids is pp.split


def test_pairs_of_each_split(data_env):
    for name in pp.COLLECTIONS:
        every = pp.pairs_of(name, "all")
        val, train = pp.pairs_of(name, "val"), pp.pairs_of(name, "train")
        assert len(every) == 10 and len(val) == 2 and sorted(val + train) == every
    with pytest.raises(ValueError, match="unknown split"):
        pp.pairs_of("hsd", "test")


def test_several_people_scenes_take_one_person_photos_only(data_env, monkeypatch):
    from tools.evaluate import scenes
    every = [p[0] for p in pp.pairs_of("hsd", "all")]
    groups = frozenset(every[:5])  # pretend half the photos are of groups
    monkeypatch.setitem(pp.GROUP_PHOTOS, "hsd", groups)
    kept = pp.pairs_of("hsd", "all", one_person=True)
    assert [p[0] for p in kept] == every[5:]
    # the split is made before the groups leave: a photo keeps its side
    assert pp.pairs_of("hsd", "val", one_person=True) == \
        [p for p in pp.pairs_of("hsd", "val") if p[0] not in groups]
    members = set()
    for scene in scenes.build("multi", split="all", quick=False, size=SIZE):
        members.update(scene.name.split("+"))
    hsd_members = {m.split("/", 1)[1] for m in members if m.startswith("hsd/")}
    assert hsd_members and not hsd_members & groups


# -- configurations -------------------------------------------------------------------------

def test_unknown_keys_and_bad_values_are_errors_naming_them():
    with pytest.raises(ValueError, match="unknown config key 'no_such_key'"):
        se.parse_assignment("no_such_key=1")
    with pytest.raises(ValueError, match="feedback=maybe: expected true or false"):
        se.parse_assignment("feedback=maybe")
    with pytest.raises(ValueError, match="expected key=value"):
        se.parse_assignment("feedback")
    with pytest.raises(ValueError, match="threshold_low"):   # the pair check of load_config
        se.configurations(["threshold_low=0.9", "threshold_high=0.1"], [])
    with pytest.raises(ValueError, match="used twice"):
        se.configurations([], ["a:feedback=true", "a:feedback=false"])
    (l1, c1), (l2, c2) = se.configurations(["history=0"], ["feedback=false", "on:feedback=1"])
    assert (l1, c1.feedback, c1.history) == ("feedback=false", False, 0.0)
    assert (l2, c2.feedback, c2.history) == ("on", True, 0.0)
    assert se.configurations([], [])[0][0] == "skill"


# -- metrics on hand-built sequences -----------------------------------------------------------

def test_dropout_detector_finds_a_single_frame_collapse():
    areas = [0.099, 0.098, 0.099, 0.011, 0.087, 0.09, 0.09, 0.0, 0.0, 0.09, 0.09]
    assert vm.dropouts(areas) == [3]          # 9.9% -> 1.1% -> 8.7%; 7-8 is two frames
    # the GT collapsed too: the person really went, not a glitch
    gt = [0.1, 0.1, 0.1, 0.02, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    assert vm.dropouts(areas, gt) == []
    # a dip to 60% is not a collapse, and specks are not people
    assert vm.dropouts([0.1, 0.06, 0.1]) == []
    assert vm.dropouts([0.004, 0.0, 0.004]) == []


def test_phases_and_events_on_a_hand_built_sequence():
    def rec(phase, gt_area, iou, mean_alpha, step):
        return {"phase": phase, "gt_area": gt_area, "iou": iou, "mean_alpha": mean_alpha,
                "step_err": step}
    nan = float("nan")
    recs = ([rec("empty", 0.0, nan, 0.0, nan), rec("empty", 0.0, nan, 0.0, 0.001)]
            + [rec("entering", 0.002, 0.0, 0.0, 0.004),         # too small to count yet
               rec("entering", 0.02, 0.3, 0.01, 0.01),           # t0 of the entry
               rec("entering", 0.05, 0.4, 0.02, 0.01),
               rec("moving", 0.1, 0.7, 0.05, 0.02)]              # found 2 frames after t0
            + [rec("standing", 0.1, 0.9, 0.05, 0.001)] * 3
            + [rec("leaving", 0.03, 0.5, 0.02, 0.03),
               rec("empty", 0.0, nan, 0.03, 0.02), rec("empty", 0.0, nan, 0.02, 0.01),
               rec("empty", 0.0, nan, 0.005, 0.01)])             # clear 2 frames after
    appear, clear, censored = vm.appear_clear(recs)
    assert (appear, clear, censored) == ([2], [2], 0)
    ph = vm.by_phase([(recs, {6})])
    assert ph["standing"]["n"] == 3 and ph["standing"]["iou"] == pytest.approx(0.9)
    assert ph["standing"]["dropouts"] == 1 and ph["moving"]["dropouts"] == 0
    assert ph["entering"]["iou"] == pytest.approx((0.0 + 0.3 + 0.4) / 3)
    assert ph["entering"]["tempo_err"] == pytest.approx(8.0)
    assert ph["empty"]["mean_alpha"] == pytest.approx((0.03 + 0.02 + 0.005) / 5)
    assert np.isnan(ph["empty"]["iou"])
    # a sequence that ends before the room clears: censored with the frames it had
    appear, clear, censored = vm.appear_clear(recs[:-1])
    assert clear == [2] and censored == 1


def test_step_error_charges_flicker_and_lag_not_offset():
    gt = np.zeros((3, 4, 4), bool)
    gt[1:, :, :2] = True                                # the person arrives at frame 1
    offset = np.where(gt, 255, 0).astype(np.uint8)
    offset[:, :, 3] = 128                               # a constant false alarm: no error
    assert vm.step_error(offset[0], offset[1], gt[0], gt[1]) == pytest.approx(0.0)
    late = np.where(gt, 255, 0).astype(np.uint8)
    late[1] = 0                                         # one frame late: half the pixels
    assert vm.step_error(late[0], late[1], gt[0], gt[1]) == pytest.approx(0.5)
    assert vm.step_error(late[1], late[2], gt[1], gt[2]) == pytest.approx(0.5)


def test_static_flicker_counts_only_pixels_whose_picture_did_not_change():
    y0 = np.zeros((4, 4), np.uint8)
    y1 = y0.copy()
    y1[:, 2:] = 50                                      # the right half changed
    a0 = np.zeros((4, 4), np.uint8)
    a1 = np.full((4, 4), 255, np.uint8)
    s, n = vm.static_change(a0, a1, y0, y1)
    assert n == 8 and s == pytest.approx(8.0)
    recs = [{"static": (0.0, 0)}, {"static": (s, n)}, {"static": (0.0, 8)}]
    assert vm.static_flicker(recs) == pytest.approx(0.5e3)


def test_per_person_recall_and_iou_split_the_frame_between_people():
    labels = np.zeros((10, 20), np.uint8)
    labels[2:8, 1:5] = 1
    labels[2:8, 14:18] = 2
    pred = labels == 1
    pred[0:2, 1:5] = True                                # 8 false pixels next to person 1
    (r1, i1), (r2, i2) = vm.per_person(pred, labels)
    assert r1 == 1.0 and i1 == pytest.approx(24 / 32.0)
    assert r2 == 0.0 and i2 == 0.0
    stats = vm.person_stats([{"persons": [(r1, i1), (r2, i2)]}])
    assert stats["found"] == 0.5 and stats["all_found"] == 0.0


def test_presence_events_against_a_reference():
    ref = vm.presence_runs([0] * 5 + [1] * 20 + [0] * 10 + [1] * 10 + [0] * 5)
    assert ref == [(5, 25), (35, 45)]
    late = vm.presence_runs([0] * 7 + [1] * 8 + [0] + [1] * 6 + [0] * 13 + [1] * 3 + [0] * 12)
    assert late == [(7, 22), (35, 38)]                   # a one-frame dropout is no exit
    m = vm.match_events(ref, late)
    assert m["entry_late"] == [2, 0] and m["exit_early"] == [3, 7] and m["missed"] == 0


# -- scenes ---------------------------------------------------------------------------------

def _red_person(h=80, w=30):
    mask = np.zeros((h, w), bool)
    cv2.ellipse(mask.view(np.uint8), (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1,
                -1)
    img = np.full((h, w, 3), BLUE, np.uint8)
    img[mask] = RED
    return pp.cut_out("red", img, mask)


def test_walk_scene_gt_follows_the_pixels_and_the_story():
    plate = np.full((90, 160, 3), BLUE, np.uint8)
    scene = sc.walk_scene(_red_person(), plate, seed=3, size=(192, 108), height=(0.6, 0.6))
    phases = []
    ring = np.ones((3, 3), np.uint8)
    for frame in scene:
        red = frame.image[:, :, 2].astype(int) > frame.image[:, :, 0].astype(int)
        g = (frame.gt > 0).astype(np.uint8)
        inner = cv2.dilate(g, ring) == cv2.erode(g, ring)     # away from the pasted edge
        assert np.array_equal(red[inner], g[inner] > 0), frame.t
        if not phases or phases[-1] != frame.phase:
            phases.append(frame.phase)
    assert phases == ["empty", "entering", "moving", "standing", "moving", "leaving", "empty"] \
        or phases == ["empty", "entering", "moving", "standing", "leaving", "empty"] \
        or phases == ["empty", "entering", "standing", "moving", "leaving", "empty"]
    again = sc.walk_scene(_red_person(), plate, seed=3, size=(192, 108), height=(0.6, 0.6))
    other = sc.walk_scene(_red_person(), plate, seed=4, size=(192, 108), height=(0.6, 0.6))
    assert np.array_equal(scene.render(20).image, again.render(20).image)
    assert scene.n_frames != other.n_frames or not np.array_equal(scene.render(20).image,
                                                                   other.render(20).image)


def test_still_and_group_scenes():
    img = np.full((120, 160, 3), BLUE, np.uint8)
    mask = np.zeros((120, 160), bool)
    mask[20:, 60:100] = True
    img[mask] = RED
    still = sc.still_scene(img, mask, seed=1, size=(128, 72), n_frames=6)
    frames = list(still)
    assert len(frames) == 6 and all(f.phase == "standing" for f in frames)
    assert not np.array_equal(frames[0].image, frames[1].image)   # drift, flicker, noise
    with pytest.raises(ValueError, match="no 16:9 view"):
        sc.still_scene(img, np.zeros_like(mask), seed=1)
    group = sc.group_scene([_red_person(), _red_person(60, 20), _red_person()],
                           np.full((90, 160, 3), BLUE, np.uint8), seed=2, size=(192, 108))
    gt = group.render(0).gt
    assert group.people == 3 and sorted(np.unique(gt)) == [0, 1, 2, 3]


# -- the harness runs the skill -----------------------------------------------------------------

def test_the_harness_scores_what_framepipeline_process_returns(data_env, monkeypatch):
    from utils.pipeline import FramePipeline
    seen = []
    real = FramePipeline.process

    def spy(self, frame):
        result = real(self, frame)
        seen.append((frame.shape, frame.dtype, float(np.mean(result.alpha >= 128))))
        return result
    monkeypatch.setattr(FramePipeline, "process", spy)
    cfg = se.configurations(["model=" + data_env["good"] + ".om"] + selfie_only()[1:], [])
    runner = se.SkillRunner(*cfg[0])
    scene = sc.walk_scene(_red_person(), np.full((90, 160, 3), BLUE, np.uint8), seed=1,
                          size=SIZE, plan=sc.QUICK_WALK)
    results, _ = se.run_suite("walk", [scene], [runner], sheet_rows=0)
    (_, recs, _, _), = results["skill"]
    assert len(seen) == len(recs) == scene.n_frames
    assert all(s == (SIZE[1] * 3 // 2, SIZE[0]) and d == np.uint8 for s, d, _ in seen)
    assert [r["area"] for r in recs] == [a for _, _, a in seen]
    assert max(r["iou"] for r in recs if r["iou"] == r["iou"]) > 0.9


def test_a_perfect_model_scores_near_one_and_a_broken_one_low(data_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    report = run_cli(["--quick", "--suite", "all", "--set", "model=%s.om" % data_env["good"],
                      "--json", str(out / "r.json"),
                      "--markdown", str(out / "r.md"), "--sheets", str(out / "sheets")])
    suites = report["suites"]
    assert list(suites) == list(sc.SUITES)
    skill = dict((s, suites[s]["rows"]["skill"]) for s in suites)
    assert skill["davis"]["iou"] > 0.9 and skill["davis"]["lost"] == 0
    for s in ("far", "walk"):
        assert skill[s]["iou:standing"] > 0.9 and skill[s]["iou:moving"] > 0.85
        assert skill[s]["empty_alpha"] < 0.005 and skill[s]["clear"] == 0
        assert skill[s]["entries"] == 2 and skill[s]["dropouts"] == 0
    assert skill["closeup"]["fg_iou"] > 0.9 and skill["closeup"]["n"] == 2   # val: 2 of 10
    assert skill["multi"]["all_found"] == 1.0 and skill["multi"]["person_iou"] > 0.85
    assert skill["still"]["iou"] > 0.9
    assert skill["clips"]["dropouts"] == 0 and skill["clips"]["frames"] == 32
    assert "per-frame network" in suites["still"]["rows"]
    saved = json.loads((out / "r.json").read_text())
    assert saved["suites"]["walk"]["rows"]["skill"]["iou:standing"] == \
        pytest.approx(skill["walk"]["iou:standing"])
    text = (out / "r.md").read_text()
    assert text.count("| configuration |") == len(sc.SUITES)
    for s in sc.SUITES:
        png = suites[s]["sheets"].get("skill")
        if png:
            img = cv2.imread(png)
            assert img is not None and img.shape[1] >= 3 * 320
    assert suites["davis"]["sheets"]["skill"]
    broken = run_cli(["--quick", "--suite", "walk,closeup", "--no-baseline",
                      "--set", "model=%s.om" % data_env["inverted"]])["suites"]
    assert broken["walk"]["rows"]["skill"]["iou:standing"] < 0.1
    assert broken["walk"]["rows"]["skill"]["empty_alpha"] > 0.5
    assert broken["closeup"]["rows"]["skill"]["fg_iou"] < 0.2


def test_config_reaches_the_skill_a_sticky_prior_leaves_a_ghost(data_env):
    rows = run_cli(["--quick", "--suite", "walk", "--no-baseline",
                    "--set", "model=%s.om" % data_env["sticky"],
                    "--config", "on:feedback=true", "--config", "off:feedback=false"]
                   )["suites"]["walk"]["rows"]
    assert rows["off"]["empty_alpha"] < 0.005 and rows["off"]["censored"] == 0
    # the skill's prior (decayed, floored) cannot hold a person the image no longer shows
    # against g = 20: the room stays hazy after the person left
    assert rows["on"]["empty_alpha"] > 0.05 and rows["on"]["censored"] > 0


def test_cli_errors_name_the_problem(data_env, capsys):
    for argv, msg in ((["--suite", "nope"], "unknown suite nope"),
                      (["--frame-size", "641x360"], "even WxH")):
        with pytest.raises(SystemExit):
            se.main(argv)
        assert msg in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown config key 'segmentr'"):
        se.main(["--set", "segmentr=person"])
    with pytest.raises(ValueError, match="cannot load"):
        se.main(["--suite", "still", "--quick", "--set", "model=/nonexistent/m.om"])
