"""Post-processing, upsampling, the temporal prior and the model wrapper, one by one."""
import cv2
import numpy as np
import pytest

from utils import postprocess
from utils.inference import MattingModel, Model
from utils.temporal import TemporalState, prior_transform
from utils.upsample import Upsampler

from test_skill_support import ERROR_CODE, FakeModel, scene, small_cfg

# -- post-processing -----------------------------------------------------------------

def blob_alpha():
    a = np.zeros((72, 128), np.float32)
    cv2.circle(a, (64, 36), 20, 1.0, -1)
    a = cv2.GaussianBlur(a, (0, 0), 2)        # a person with soft edges
    a[5:7, 5:7] = 0.95                        # a confident 2x2 speck
    a[60:70, 100:120] = 0.6                   # an unsure blob without a confident core
    return a


def test_cleanup_drops_specks_and_coreless_blobs_but_keeps_soft_edges():
    a = blob_alpha()
    out = postprocess.cleanup(a.copy(), 0.8, postprocess._ellipse(3), postprocess._ellipse(13))
    assert out[5:7, 5:7].max() == 0 and out[60:70, 100:120].max() == 0
    assert out[36, 64] == pytest.approx(a[36, 64])
    edge = (a > 0.2) & (a < 0.6) & (np.hypot(*np.mgrid[-36:36, -64:64]) < 30)
    assert edge.sum() > 20 and np.allclose(out[edge], a[edge])  # soft edge untouched


def test_soft_threshold_ramp():
    a = np.array([[0.0, 0.2, 0.5, 0.8, 1.0, 0.35]], np.float32)
    out = postprocess.soft_threshold(a, 0.2, 0.8)
    assert np.allclose(out, [[0, 0, 0.5, 1, 1, 0.25]], atol=1e-6)


def test_postprocessor_steps_are_optional_and_keep_no_state():
    a = blob_alpha()
    off = postprocess.PostProcessor(small_cfg(cleanup=False, threshold=False))
    assert np.array_equal(off.run(a), a)
    assert np.array_equal(off.threshold(a.copy()), a)
    on = postprocess.PostProcessor(small_cfg())
    out = on.run(a).copy()
    assert out[5:7, 5:7].max() == 0 and out[60:70, 100:120].max() == 0  # the clean-up
    edge = (a > 0.25) & (a < 0.75) & (out > 0)
    assert edge.sum() > 20 and np.allclose(out[edge], a[edge], atol=1e-6)  # not thresholded
    on.run(np.zeros_like(a))
    assert np.array_equal(on.run(a), out)  # the same alpha gives the same matte, always
    assert np.array_equal(a, blob_alpha())  # the input is not modified
    shown = on.threshold(out.copy())
    assert np.array_equal(shown, postprocess.soft_threshold(out.copy(), 0.2, 0.8))
    assert set(np.unique(shown[edge])) - {0.0, 1.0} and shown[36, 64] == 1.0


@pytest.mark.parametrize("box", [(40, 10, 90, 60), (3, 0, 128, 72), (0, 20, 17, 21),
                                 (50, 30, 50, 40)])
def test_the_threshold_of_a_box_gives_the_numbers_of_the_whole_matte(box):
    # a matte 0 outside `box` (how the pipeline knows it): thresholded in the box only, the
    # same values to the bit as the whole matte thresholded
    x0, y0, x1, y1 = box
    rng = np.random.default_rng(1)
    matte = np.zeros((72, 128), np.float32)
    matte[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0), np.float32)
    post = postprocess.PostProcessor(small_cfg())
    whole = postprocess.soft_threshold(matte.copy(), 0.2, 0.8)
    assert np.array_equal(post.threshold(matte, box), whole)


# -- upsampling ----------------------------------------------------------------------

def edge_case():
    """A frame whose true edge is at x = 317 (not on the model grid) and the blurry
    model-size alpha of it."""
    W, H, w, h = 640, 360, 128, 72
    y_full = np.full((H, W), 40, np.uint8)
    y_full[:, 317:] = 210
    y_small = cv2.resize(y_full, (w, h), interpolation=cv2.INTER_AREA)
    truth = (y_full > 128).astype(np.float32)
    alpha = cv2.GaussianBlur(cv2.resize(truth, (w, h), interpolation=cv2.INTER_AREA),
                             (0, 0), 1.5)
    return alpha, y_small, y_full, truth


def test_guided_upsample_follows_the_real_edge():
    alpha, y_small, y_full, truth = edge_case()
    out_g = Upsampler("guided", 2, 1e-4).run(alpha, y_small, y_full,
                                            np.empty_like(y_full))
    out_b = Upsampler("bilinear").run(alpha, y_small, y_full, np.empty_like(y_full))
    # pixels clearly on the wrong side (off by more than a quarter)
    wrong_g = (np.abs(out_g / 255.0 - truth) > 0.25).sum()
    wrong_b = (np.abs(out_b / 255.0 - truth) > 0.25).sum()
    assert wrong_b > 360 * 6 and wrong_g < wrong_b / 10, (wrong_g, wrong_b)
    row = out_g[180].astype(int)
    assert row[310] < 64 and row[324] > 191  # sharp within a few pixels of x = 317


def test_guided_half_matches_full_within_a_pixel_and_fills_the_chroma_alpha():
    alpha, y_small, y_full, truth = edge_case()
    full = Upsampler("guided", 2, 1e-4)
    half = Upsampler("guided_half", 2, 1e-4)
    h_full = np.empty((180, 320), np.uint8)
    h_half = np.empty((180, 320), np.uint8)
    out_f = full.run(alpha, y_small, y_full, np.empty_like(y_full), h_full)
    out_h = half.run(alpha, y_small, y_full, np.empty_like(y_full), h_half)
    out_b = Upsampler("bilinear").run(alpha, y_small, y_full, np.empty_like(y_full))
    wrong_h = (np.abs(out_h / 255.0 - truth) > 0.25).sum()
    wrong_b = (np.abs(out_b / 255.0 - truth) > 0.25).sum()
    # an edge at an odd x falls inside a 2x2 block: at most 4 pixels per row are soft
    assert wrong_h <= 4 * 360 and wrong_h < wrong_b / 3, (wrong_h, wrong_b)
    assert np.abs(out_h.astype(int) - out_f).mean() < 2
    # the chroma alpha of the full mode is the 2x2 mean of its full-size alpha
    means = out_f.astype(float).reshape(180, 2, 320, 2).mean(axis=(1, 3))
    assert np.abs(h_full - means).max() <= 1
    assert np.abs(h_half.astype(int) - h_full).mean() < 2


def test_upsample_range_and_flat_alpha():
    rng = np.random.RandomState(0)
    y_full = rng.randint(0, 256, (180, 320)).astype(np.uint8)
    y_small = cv2.resize(y_full, (64, 36), interpolation=cv2.INTER_AREA)
    for mode in ("guided", "guided_half", "bilinear"):
        for v in (0.0, 1.0):
            alpha = np.full((36, 64), v, np.float32)
            out = Upsampler(mode).run(alpha, y_small, y_full, np.empty_like(y_full))
            assert np.abs(out.astype(int) - int(255 * v)).max() <= 1, mode
    with pytest.raises(ValueError):
        Upsampler("bicubic")


# -- temporal prior ------------------------------------------------------------------

@pytest.mark.parametrize("small,full", [((384, 216), (1280, 720)), ((288, 216), (640, 480)),
                                        ((64, 48), (1920, 1080)), ((256, 144), (256, 144))])
def test_bilinear_upsample_box_holds_every_non_zero_pixel(small, full):
    # the compositor copies the background outside Upsampler.box: nothing non-zero may be
    # outside it, at either resolution, and it is even (the chroma rows and pairs)
    (w, h), (W, H) = small, full
    rs = np.random.RandomState(w + W)
    u = Upsampler("bilinear")
    out = np.empty((H, W), np.uint8)
    half = np.empty((H // 2, W // 2), np.uint8)
    for _ in range(40):
        a = np.zeros((h, w), np.float32)
        x, y = rs.randint(0, w), rs.randint(0, h)
        rw, rh = rs.randint(1, w - x + 1), rs.randint(1, h - y + 1)
        a[y:y + rh, x:x + rw] = rs.uniform(0.003, 1.0, (rh, rw))
        u.run(a, None, np.empty((H, W), np.uint8), out, half)
        x0, y0, x1, y1 = u.box
        assert x0 % 2 == y0 % 2 == x1 % 2 == y1 % 2 == 0
        outside = np.ones((H, W), bool)
        outside[y0:y1, x0:x1] = False
        assert not out[outside].any() and not half[outside[::2, ::2]].any()
        assert out[y0:y1, x0:x1].any()
        # and not much more than the resized rectangle (a source pixel of margin)
        assert (x1 - x0) <= (rw + 2) * W / float(w) + 6
    u.run(np.zeros((h, w), np.float32), None, np.empty((H, W), np.uint8), out, half)
    assert u.box == (0, 0, 0, 0) and not out.any()
    assert Upsampler("guided").box is None


def test_prior_transform_is_one_pure_function():
    a = np.array([[0.0, 0.2, 0.5, 1.0]], np.float32)
    before = a.copy()
    ref = np.clip((0.9 * a.astype(np.float64) - 0.2) / 0.8, 0, 1)
    p = prior_transform(a, 0.9, 0.2)
    assert p.dtype == np.float32 and np.allclose(p, ref, atol=1e-6) and p[0, 3] > 0.87
    assert np.array_equal(a, before)  # input untouched
    # a batch (N x 1 x H x W, as the training loop has it) gives each frame's prior
    rng = np.random.RandomState(0)
    batch = rng.rand(3, 1, 72, 128).astype(np.float32)
    out = np.empty_like(batch)
    assert prior_transform(batch, 0.8, 0.3, out=out) is out
    for i in range(3):
        assert np.allclose(out[i, 0], prior_transform(batch[i, 0], 0.8, 0.3), atol=1e-6)
    assert np.allclose(prior_transform(batch.astype(np.float64), 0.8, 0.3), out, atol=1e-6)
    # the skill's prior is exactly this function of the raw alpha
    st = TemporalState(128, 72, decay=0.8, floor=0.3)
    st.new_alpha(batch[1, 0])
    assert np.array_equal(st.feedback(), prior_transform(batch[1, 0], 0.8, 0.3))
    with pytest.raises(ValueError):
        prior_transform(a, 0.9, 1.0)
    with pytest.raises(ValueError):
        prior_transform(a, 0.9, 0.2, out=np.empty((4, 1), np.float32))


def test_prior_transform_and_reset_rules():
    st = TemporalState(128, 72, decay=0.9, floor=0.2, scene_cut=30)
    y = scene(320, 180, (100, 40, 200, 180))[:180]
    y_small = cv2.resize(y, (128, 72), interpolation=cv2.INTER_AREA)
    assert st.begin_frame((320, 180), y_small) is None
    st.new_alpha(np.full((72, 128), 1.0, np.float32))
    assert st.has_prior and st.prior.max() == pytest.approx(0.875)
    st.new_alpha(np.full((72, 128), 0.2, np.float32))
    assert st.prior.max() == 0.0  # (0.18 - 0.2) / 0.8 < 0
    st.new_alpha(np.full((72, 128), 1.0, np.float32))
    # same picture again: no reset
    assert st.begin_frame((320, 180), y_small) is None and st.has_prior
    # frame size change
    assert st.begin_frame((640, 360), y_small) == "frame size changed"
    assert not st.has_prior and st.prior.max() == 0
    st.new_alpha(np.full((72, 128), 1.0, np.float32))
    # scene cut: a very different picture
    assert st.begin_frame((640, 360), 255 - y_small) == "scene cut"
    assert not st.has_prior and st.feedback().max() == 0
    st.new_alpha(np.full((72, 128), 1.0, np.float32))
    assert st.inference_failed() == "inference failed"
    assert not st.has_prior and st.feedback().max() == 0
    with pytest.raises(ValueError):
        st.begin_frame((640, 360), y_small[:10])


def test_scene_cut_off_and_small_motion():
    st = TemporalState(128, 72, scene_cut=0)
    a = np.zeros((72, 128), np.uint8)
    st.begin_frame((128, 72), a)
    assert st.begin_frame((128, 72), a + 255) is None  # disabled
    st = TemporalState(128, 72, scene_cut=30)
    b = a.copy()
    b[:, :10] = 200  # a small change: 200 * 10/128 = 15.6 levels mean
    st.begin_frame((128, 72), a)
    assert st.begin_frame((128, 72), b) is None


@pytest.mark.parametrize("decay,floor,frames", [(0.9, 0.2, 6), (0.8, 0.3, 4), (1.0, 0.0, None)])
def test_echoed_prior_clears_in_a_few_frames(decay, floor, frames):
    st = TemporalState(8, 8, decay=decay, floor=floor)
    alpha = np.ones((8, 8), np.float32)
    n = 0
    while alpha.max() > 0 and n < 50:
        st.new_alpha(alpha)
        alpha = st.feedback().copy()  # a model that echoes its prior
        n += 1
    if frames is None:
        assert alpha.max() == 1.0  # decay 1, floor 0 would keep a ghost for ever
    else:
        assert n == frames


# -- model wrapper -------------------------------------------------------------------

def model_inputs(w=128, h=72):
    """A model-size NV21 frame with a bright box at x 25..75, and an empty prior."""
    return scene(w, h, (25, 10, 75, 72)), np.zeros((h, w), np.float32)


@pytest.mark.parametrize("answer,needle", [(ERROR_CODE, "error code %r" % ERROR_CODE),
                                           (RuntimeError("busy"), "raised RuntimeError: busy")])
def test_model_run_gives_one_result_type(answer, needle):
    class Answers(object):
        def infer(self, inputs):
            if isinstance(answer, Exception):
                raise answer
            return answer

    ok = Model(FakeModel(4, 4, feedback=False), "detector").run([np.zeros(24, np.uint8)])
    assert ok.ok and ok.error == "" and ok.calls == 1
    assert isinstance(ok.value, list) and ok.value[0].shape == (16,)
    bad = Model(Answers(), "detector", expects="image 24 bytes").run([])
    assert not bad.ok and bad.value is None and needle in bad.error
    assert ("for what was sent: image 24 bytes" in bad.error) == isinstance(answer, int)


def test_model_log_lines_name_the_model(logged):
    Model(None, "person detector").fail("infer returned no outputs")
    assert logged == [("error", "person detector model: infer returned no outputs")]


def test_feedback_detected_and_used():
    fake = FakeModel(128, 72, "max")
    m = MattingModel(fake, 128, 72)
    frame, prior = model_inputs()
    prior[0, 0] = 0.7
    r = m.infer(frame, prior)
    assert r.ok and r.calls == 1 and m.has_prior_input is True and fake.calls == [2]
    a = r.value
    assert a.shape == (72, 128) and a[0, 0] == pytest.approx(0.7) and a[40, 50] == 1.0 and a[40, 100] == 0.0


def test_model_without_prev_alpha_falls_back_once(logged):
    fake = FakeModel(128, 72, "bright", feedback=False)
    m = MattingModel(fake, 128, 72)
    frame, prior = model_inputs()
    results = [m.infer(frame, prior) for _ in range(3)]
    assert all(r.ok for r in results) and [r.calls for r in results] == [2, 1, 1]
    assert fake.calls == [2, 1, 1, 1] and m.has_prior_input is False
    assert len([x for x in logged if "no prev_alpha" in x[1]]) == 1


def test_feedback_off_feeds_zeros():
    fake = FakeModel(128, 72, "echo")
    m = MattingModel(fake, 128, 72, feedback=False)
    frame, prior = model_inputs()
    prior[:] = 1.0
    assert m.infer(frame, prior).value.max() == 0.0


@pytest.mark.parametrize("action,needle", [(ERROR_CODE, "error code"), ("nan", "NaN"),
                                           ("inf", "NaN/inf"), ("raise", "RuntimeError"),
                                           ("short", "values")])
def test_model_faults_give_an_error_and_one_log_line(action, needle, logged):
    fake = FakeModel(128, 72, "bright", script=[None, action, None])
    m = MattingModel(fake, 128, 72)
    frame, prior = model_inputs()
    assert m.infer(frame, prior).ok
    r = m.infer(frame, prior)
    assert not r.ok and r.value is None and needle in r.error and r.calls == 1
    errors = [msg for lvl, msg in logged if lvl == "error"]
    assert len(errors) == 1 and errors[0].startswith("matting model: ") and needle in errors[0]
    assert m.infer(frame, prior).ok  # recovers on the next frame


def test_huge_finite_outputs_are_clipped_and_one_inf_is_an_error():
    # the output's finiteness is read from its sum in float64: the largest float32 values
    # everywhere still sum to a finite number (and are clipped), one -inf does not
    class Fixed(object):
        def __init__(self, value):
            self.value = value

        def infer(self, inputs):
            return [self.value.reshape(-1).copy()]
    frame, prior = model_inputs()
    big = np.full((72, 128), np.finfo(np.float32).max, np.float32)
    big[0, :64] = -np.finfo(np.float32).max
    r = MattingModel(Fixed(big), 128, 72).infer(frame, prior)
    assert r.ok and r.value[0, 0] == 0.0 and r.value[5, 5] == 1.0
    big[3, 3] = -np.inf
    r = MattingModel(Fixed(big), 128, 72).infer(frame, prior)
    assert not r.ok and "NaN/inf" in r.error


def test_wrong_model_size_is_an_error_not_a_crash(logged):
    m = MattingModel(FakeModel(128, 72), 256, 144)  # config says 256x144, model is 128x72
    frame = scene(256, 144)
    r = m.infer(frame, np.zeros((144, 256), np.float32))
    assert not r.ok and "256x144" in r.error and r.calls == 2  # the probe tried 1 input too
    r = m.infer(frame[:30], np.zeros((144, 256), np.float32))  # wrong input
    assert not r.ok and r.calls == 0


def test_error_logs_are_throttled(logged):
    m = MattingModel(FakeModel(128, 72, script=[None] + [ERROR_CODE] * 100), 128, 72)
    frame, prior = model_inputs()
    assert m.infer(frame, prior).ok  # feedback detected
    results = [m.infer(frame, prior) for _ in range(50)]
    assert not any(r.ok for r in results)
    assert len([x for x in logged if x[0] == "error"]) == 1


# -- the history before the threshold ----------------------------------------------------

class WaveringModel(FakeModel):
    """The bright rectangle at alpha 0.75 and 0.85 on alternate calls: a network unsure of
    a region whose picture does not change."""

    def infer(self, inputs):
        out = FakeModel.infer(self, inputs)
        level = (0.75, 0.85)[len(self.calls) % 2]
        return [out[0] * np.float32(level)]


def test_the_history_blends_the_network_values_before_the_soft_threshold():
    # Thresholded first (0.2..0.8), the two values become 0.92 and 1.0, and the 1.0 is
    # confident: it passes the history unblended, so the shown matte wavers by 0.05 each
    # frame. Blended first, the history holds them near 0.8, which the threshold shows as
    # a steady 1.0.
    from utils.pipeline import FramePipeline
    p = FramePipeline(small_cfg(cleanup=False), WaveringModel(128, 72, "bright"))
    frame = scene(256, 144, (64, 24, 192, 120))
    shown = []
    for _ in range(12):
        shown.append(p.process(frame).alpha[50:90, 100:150].astype(np.int16))
    steps = [np.abs(b - a).mean() for a, b in zip(shown[4:], shown[5:])]
    assert max(steps) < 3.0, steps  # of 255
    assert shown[-1].min() >= 245
    # with the history off the threshold alone shows the wavering
    q = FramePipeline(small_cfg(cleanup=False, history=0.0), WaveringModel(128, 72, "bright"))
    raw = [q.process(frame).alpha[50:90, 100:150].astype(np.int16) for _ in range(6)]
    assert np.abs(raw[5] - raw[4]).mean() > 15
