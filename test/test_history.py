"""The matte history (utils.history's pixel rules, TemporalState.new_matte): flicker damped on a
still picture, motion and confident pixels passed at once, the camera's noise measured, an
exposure flicker not taken for motion, a glitch bridged for at most history_bridge frames, a
real departure passed, the history forgotten on every reset."""
import cv2
import numpy as np
import pytest

from utils import history
from utils.temporal import TemporalState

W, H = 96, 64
rng = np.random.RandomState(7)
TEXTURE = np.clip(rng.normal(120, 30, (H, W)), 0, 255).astype(np.uint8)  # a detailed picture


def noisy(y, sigma, seed):
    r = np.random.RandomState(seed)
    return np.clip(y.astype(np.float32) + r.normal(0, sigma, y.shape), 0, 255).astype(np.uint8)


def step(st, y, matte, size=(640, 360)):
    """One frame through the state as the pipeline calls it; returns the matte shown."""
    st.begin_frame(size, y)
    return st.new_matte(matte.astype(np.float32).copy())


def maps(y, y_prev, noise=None):
    change = history.picture_change(y, y_prev, np.empty(y.shape, np.uint8),
                                    np.empty(y.shape, np.uint8))
    level = history.noise_level(change) if noise is None else noise
    lut = history.still_lut(3.0, level)
    return change, level, history.still(change, lut, np.empty(y.shape, np.uint8))


def test_the_picture_change_is_its_definition_to_the_level():
    # |y - round(g * y_prev)| in 1/SCALE levels, saturated at 255, averaged over 3x3 (replicated
    # border) and rounded: over every difference 0..255 and a big exposure change
    r = np.random.RandomState(5)
    for y_prev, y in ((TEXTURE, noisy(TEXTURE, 20.0, 1)),
                      (r.randint(0, 256, (H, W)).astype(np.uint8),
                       r.randint(0, 256, (H, W)).astype(np.uint8)),
                      (np.zeros((16, 16), np.uint8), np.arange(256, dtype=np.uint8).reshape(16, 16))):
        for reference in (None, (None, 1.2 * float(y_prev.mean()) + 1.0)):
            got = history.picture_change(y, y_prev, np.empty(y.shape, np.uint8),
                                         np.empty(y.shape, np.uint8), reference=reference)
            m_prev = y_prev.mean() if reference is None else reference[1]
            g = y.mean() / m_prev if m_prev >= 1.0 else 1.0
            g = min(max(g, 1.0 - history.MAX_GAIN), 1.0 + history.MAX_GAIN)
            d = np.abs(y.astype(np.int32) - cv2.convertScaleAbs(y_prev, None, g))
            d = np.minimum(d * history.SCALE, 255)
            p = np.pad(d, 1, mode="edge")
            box = sum(p[i:i + y.shape[0], j:j + y.shape[1]] for i in range(3) for j in range(3))
            assert np.abs(got - box / 9.0).max() <= 0.5 + 1e-9


def test_flicker_is_damped_on_a_still_picture():
    st = TemporalState(W, H, history=0.8, history_motion=3.0)
    off = TemporalState(W, H, history=0.0, history_bridge=0)
    shown, raw = [], []
    for i in range(12):
        y = noisy(TEXTURE, 2.0, i)
        m = np.full((H, W), 0.4 if i % 2 else 0.6, np.float32)  # the network wavers
        shown.append(step(st, y, m)[10:50, 10:80].mean())
        raw.append(step(off, y, m)[10:50, 10:80].mean())
    swing = np.abs(np.diff(shown[4:])).mean()
    assert np.abs(np.diff(raw[4:])).mean() == pytest.approx(0.2, abs=1e-3)  # off: untouched
    assert swing < 0.5 * 0.2, shown  # the history takes most of the flicker out


def test_motion_passes_at_once():
    st = TemporalState(W, H, history=0.9)  # (mattes below 0.5: no person area to bridge)
    step(st, noisy(TEXTURE, 2.0, 0), np.full((H, W), 0.45))
    step(st, noisy(TEXTURE, 2.0, 1), np.full((H, W), 0.45))
    moved = TEXTURE.copy()  # something else moved into the right part of the picture
    moved[:, 60:] = 255 - TEXTURE[:, 60:]  # (of the same mean brightness)
    new = np.full((H, W), 0.4, np.float32)
    assert st.begin_frame((640, 360), noisy(moved, 2.0, 2)) is None  # no scene cut
    out = st.new_matte(new.copy())
    moved_part = np.abs(out[5:-5, 66:-5] - 0.4)  # where it moved: the new matte (but where
    assert (moved_part < 1e-6).mean() > 0.95  # the two pictures happen to agree)
    still_part = np.abs(out[5:-5, 5:55] - 0.4)  # where it did not: blended (0.044 in full)
    assert np.median(still_part) > 0.04 and still_part.min() > 0.01


def test_confident_pixels_pass_whatever_the_history_held():
    st = TemporalState(W, H, history=0.9)
    step(st, noisy(TEXTURE, 1.0, 0), np.full((H, W), 0.5))
    new = np.full((H, W), 0.6, np.float32)
    new[:, :30] = 1.0  # the network is sure now: its value passes at once
    new[:, 60:] = 0.0
    out = step(st, noisy(TEXTURE, 1.0, 1), new)
    assert out[:, :30].min() == 1.0 and out[:, 60:].max() == 0.0
    # unsure: 0.9 * H(0.6) = 87% of the way back to the history
    unsure = np.abs(out[:, 35:55] - (0.6 - 0.9 * 0.97095 * 0.1))
    assert np.median(unsure) < 0.002 and (unsure < 0.01).mean() > 0.9
    nearly = np.full((H, W), 0.95, np.float32)  # fairly sure: a small share of the history
    out = step(st, noisy(TEXTURE, 1.0, 2), nearly)
    assert 0.005 < np.median(out[:, :30] - 0.95) < 0.02  # from 1.0: 0.9 * H(0.95) = 0.26 of it
    assert 0.05 < np.median(0.95 - out[:, 35:55]) < 0.25  # from ~0.51


def test_the_noise_is_measured_so_a_noisy_camera_is_still_and_a_clean_one_sees_a_change():
    levels = []
    for sigma in (2.0, 6.0):
        _, level, still8 = maps(noisy(TEXTURE, sigma, 1), noisy(TEXTURE, sigma, 2))
        levels.append(level)
        assert (still8 == 255).mean() > 0.9, sigma  # the camera's noise is not motion
    assert 2.0 < levels[1] / levels[0] < 4.5  # the level follows the noise
    # a change of 8 grey levels in a patch: motion to a clean camera, noise to a noisy one
    changed = TEXTURE.copy()
    changed[20:40, 20:40] = np.clip(changed[20:40, 20:40].astype(int) + 8, 0, 255)
    _, _, clean = maps(noisy(changed, 1.0, 3), noisy(TEXTURE, 1.0, 4))
    _, _, rough = maps(noisy(changed, 6.0, 3), noisy(TEXTURE, 6.0, 4))
    assert clean[22:38, 22:38].max() == 0
    assert (rough[22:38, 22:38] > 0).mean() > 0.5


def test_the_noise_level_holds_while_a_good_part_of_the_picture_moves():
    y0, y1 = noisy(TEXTURE, 2.0, 1), noisy(TEXTURE, 2.0, 2)
    _, quiet, _ = maps(y1, y0)
    moved = y1.copy()
    moved[:, :38] = np.roll(y1, 9, axis=0)[:, :38]  # 40% of the picture moved
    _, busy, _ = maps(moved, y0)
    assert busy < 1.5 * quiet  # not the moving pixels' change (~30 levels)
    st = TemporalState(W, H, scene_cut=0)
    for i in range(6):
        step(st, noisy(TEXTURE, 2.0, i), np.zeros((H, W)))
    settled = st.noise
    for i in range(2):  # two frames where everything moves: the estimate moves a little
        step(st, np.roll(noisy(TEXTURE, 2.0, 20 + i), 5 * (i + 1), axis=1), np.zeros((H, W)))
    assert st.noise < 3.0 * settled


def test_an_exposure_flicker_is_not_motion():
    y0 = noisy(TEXTURE, 1.5, 1)
    brighter = np.clip(noisy(TEXTURE, 1.5, 2).astype(np.float32) * 1.15, 0, 255).astype(np.uint8)
    _, level, still8 = maps(brighter, y0)
    assert (still8 == 255).mean() > 0.85
    # without the exposure gain the same frames would read as motion almost everywhere
    plain = np.abs(brighter.astype(int) - y0.astype(int)).mean()
    assert plain > 2 * 3.0 * max(level, history.NOISE_FLOOR)  # twice history_motion 3
    st = TemporalState(W, H, history=0.8)
    step(st, y0, np.full((H, W), 0.6))
    assert step(st, brighter, np.full((H, W), 0.4)).mean() > 0.5  # still blended


def person_matte():
    m = np.zeros((H, W), np.float32)
    m[10:60, 30:65] = 1.0
    return m


def test_a_collapse_on_a_still_picture_is_bridged_for_at_most_history_bridge_frames():
    st = TemporalState(W, H, history=0.8, history_bridge=2)
    for i in range(3):
        step(st, noisy(TEXTURE, 2.0, i), person_matte())
    shown = [step(st, noisy(TEXTURE, 2.0, 10 + i), np.zeros((H, W))).mean() for i in range(4)]
    area = person_matte().mean()
    assert shown[0] == pytest.approx(area) and shown[1] == pytest.approx(area)  # bridged
    assert shown[2] == 0.0 and shown[3] == 0.0  # then believed
    assert st.bridged == 0
    off = TemporalState(W, H, history=0.8, history_bridge=0)
    for i in range(3):
        step(off, noisy(TEXTURE, 2.0, i), person_matte())
    assert step(off, noisy(TEXTURE, 2.0, 10), np.zeros((H, W))).max() == 0.0


def test_a_person_who_really_goes_passes_at_once():
    person_y = TEXTURE.copy()
    person_y[10:60, 30:65] = 180  # the person, on the textured room (no scene cut)
    st = TemporalState(W, H, history=0.8, history_bridge=3)
    for i in range(3):
        step(st, noisy(person_y, 2.0, i), person_matte())
    st.begin_frame((640, 360), noisy(TEXTURE, 2.0, 9))  # the room shows again
    assert st.has_history
    out = st.new_matte(np.zeros((H, W), np.float32))
    assert out.max() == 0.0


@pytest.mark.parametrize("lag", [1, 2])
def test_a_person_the_network_loses_a_frame_or_two_after_they_went_is_not_bridged(lag):
    person_y = TEXTURE.copy()
    person_y[10:60, 30:65] = 180
    st = TemporalState(W, H, history=0.8, history_bridge=3, scene_cut=0)
    for i in range(4):
        step(st, noisy(person_y, 2.0, i), person_matte())
    for i in range(lag):  # the room shows, the network (its prior) still sees the person
        step(st, noisy(TEXTURE, 2.0, 10 + i), person_matte())
    assert step(st, noisy(TEXTURE, 2.0, 20), np.zeros((H, W))).max() == 0.0


def test_an_exposure_change_is_held_to_an_exposure_flicker():
    y0 = noisy(TEXTURE, 1.0, 1)
    dark = (y0 // 2).astype(np.uint8)  # half as bright: not an exposure flicker
    change = history.picture_change(dark, y0, np.empty((H, W), np.uint8),
                                    np.empty((H, W), np.uint8))
    assert np.median(change) / history.SCALE > 0.3 * 0.5 * y0.mean()  # reads as motion


def test_a_small_collapse_or_a_partial_loss_is_no_glitch():
    def collapse(mask, matte, still8):
        area = history.person_mask(matte, np.empty((H, W), np.uint8))
        return history.collapse(mask, int(np.count_nonzero(mask)), matte,
                                int(np.count_nonzero(area)), still8,
                                np.empty((H, W), np.uint8))

    still8 = np.full((H, W), 255, np.uint8)
    half = person_matte()
    half[10:60, 48:65] = 0.0  # still more than half of the area
    half_mask = history.person_mask(half, np.empty((H, W), np.uint8))
    assert not collapse(half_mask, person_matte(), still8)[0]
    gone = np.zeros((H, W), np.uint8)
    assert collapse(gone, person_matte(), still8) == (True, 0.0)
    moved = still8.copy()
    moved[10:60, 30:60] = 0  # most of the lost area moved
    glitch, share = collapse(gone, person_matte(), moved)
    assert not glitch and share > 0.8
    tiny = np.zeros((H, W), np.float32)
    tiny[0:2, 0:2] = 1.0  # below MIN_AREA of the matte: nothing to bridge
    assert not collapse(gone, tiny, still8)[0]


@pytest.mark.parametrize("reset", ["reset", "size", "cut", "failed"])
def test_every_reset_forgets_the_history(reset):
    st = TemporalState(W, H, history=0.9, history_bridge=3)
    y = noisy(TEXTURE, 2.0, 0)
    for i in range(3):
        step(st, noisy(TEXTURE, 2.0, i), person_matte())
    assert st.has_history and st.noise is not None
    size = (640, 360)
    if reset == "reset":
        st.reset("scene cut")
    elif reset == "size":
        size = (320, 180)
    elif reset == "cut":
        y = (255 - TEXTURE).astype(np.uint8)  # a different picture: mean change > 30
    else:
        st.inference_failed()
    half = np.full((H, W), 0.5, np.float32)
    out = step(st, y, half, size)  # no bridge, no blend: the new matte as it is
    assert np.array_equal(out, half)
    assert st.noise is None and st.bridged == 0


def test_history_off_leaves_the_matte_alone_and_keeps_nothing():
    st = TemporalState(W, H, history=0.0, history_bridge=0)
    for i in range(3):
        out = step(st, noisy(TEXTURE, 2.0, i), np.full((H, W), 0.3 + 0.2 * (i % 2)))
        assert np.allclose(out, 0.3 + 0.2 * (i % 2))
    assert not st.has_history


def test_the_weight_maps_are_bounded():
    q = history.SCALE  # the table is over 1/q grey levels
    lut = history.still_lut(3.0, 2.0)  # 255 up to 3 levels, 0 from 6
    assert lut[0] == 255 and lut[3 * q] == 255 and 100 < lut[int(4.5 * q)] < 155
    assert lut[6 * q] == 0 and lut[-1] == 0 and np.all(np.diff(lut.astype(int)) <= 0)
    assert history.still_lut(15.0, 8.0)[-1] == 0  # a saturated change always moved
    floor = history.still_lut(3.0, 0.0)  # a clean camera: NOISE_FLOOR levels are one unit
    assert floor[int(1.5 * history.NOISE_FLOOR * q)] == 255
    assert floor[int(np.ceil(3 * history.NOISE_FLOOR * q))] == 0
    m = np.array([[0.0, 0.25, 0.5, 0.75, 1.0]], np.float32)
    u = history.unsure(m, np.empty(m.shape, np.uint8))[0]
    assert u[0] == 0 and u[4] == 0 and u[2] == 255 and 0 < u[1] < 255 and abs(int(u[1]) - int(u[3])) <= 1


def test_a_repeated_first_frame_does_not_freeze_the_noise_estimate():
    st = TemporalState(W, H, scene_cut=0)
    y = noisy(TEXTURE, 3.0, 0)
    step(st, y, np.zeros((H, W)))
    step(st, y, np.zeros((H, W)))  # the same frame twice: no noise at all
    assert st.noise == 0.0
    for i in range(40):
        step(st, noisy(TEXTURE, 3.0, i + 1), np.zeros((H, W)))
    _, level, _ = maps(noisy(TEXTURE, 3.0, 50), noisy(TEXTURE, 3.0, 51))
    assert st.noise == pytest.approx(level, rel=0.2)


# -- the fast paths give the rules' own numbers ------------------------------------------------

def test_still_mask_is_where_still_is_non_zero():
    change = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for motion in (0.5, 3.0, 6.0, 15.0):
        for noise in (0.0, 0.6, 1.3, 4.0, 40.0):
            lut = history.still_lut(motion, noise)
            still8 = history.still(change, lut, np.empty_like(change))
            mask = history.still_mask(change, history.still_limit(lut), np.empty_like(change))
            assert np.array_equal(mask, np.where(still8 > 0, 255, 0)), (motion, noise)


def test_outside_the_active_box_nothing_is_blended_and_nobody_is():
    m = np.zeros((H, W), np.float32)
    m[:, :] = 0.49 / 255  # rounds to 0: no weight, no person
    m[20:30, 40:47] = rng.uniform(0, 1, (10, 7))
    m[25, 60] = 0.51 / 255
    a8 = history.quantise(m, np.empty((H, W), np.uint8))
    rows, cols = history.active_box(a8)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (20, 30, 40, 61)
    outside = np.ones((H, W), bool)
    outside[rows, cols] = False
    assert not history.unsure(m, np.empty((H, W), np.uint8))[outside].any()
    assert not history.person_mask(m, np.empty((H, W), np.uint8))[outside].any()
    assert history.active_box(np.zeros((H, W), np.uint8)) is None


def test_the_noise_level_is_the_percentile_of_the_sample():
    for seed in range(5):
        r = np.random.RandomState(seed)
        change = np.clip(r.gamma(1.5 + seed, 4.0, (H, W)), 0, 255).astype(np.uint8)
        sample = change[::history.NOISE_STEP, ::history.NOISE_STEP].ravel()
        k = int(np.ceil(np.percentile(sample, history.NOISE_PERCENTILE, method="inverted_cdf")))
        assert history.noise_level(change) == k / float(history.SCALE)


def full_frame_history(weight, motion, bridge):
    """The history's rules on whole frames, as they read (a still() map for the exposure
    gain, every map over the whole matte, the Y planes copied): new_matte must give the
    same numbers, bit for bit."""
    from utils import temporal as T
    s = {"history": None, "area": 0, "ys": [], "frames": 0, "noise": None, "bridged": 0,
         "still": np.empty((H, W), np.uint8), "lut": np.empty(256, np.uint8)}
    u8 = lambda: np.empty((H, W), np.uint8)  # noqa: E731

    def new_matte(y, matte):
        mask = history.person_mask(matte, u8())
        area = int(np.count_nonzero(mask))
        if s["history"] is not None:
            change = history.picture_change(y, s["ys"][0], u8(), u8(),
                                            s["still"] if s["frames"] else None)
            if s["frames"] % T.NOISE_EVERY == 0:
                level = history.noise_level(change)
                if s["noise"] is None:
                    s["noise"] = min(level, T.NOISE_START)
                else:
                    cap = 2.0 * max(s["noise"], history.NOISE_FLOOR)
                    s["noise"] += T.NOISE_RATE * (min(level, cap) - s["noise"])
                history.still_lut(motion, s["noise"], s["lut"])
            s["frames"] += 1
            still8 = history.still(change, s["lut"], s["still"])
            glitch = history.collapse(mask, area, s["history"], s["area"], still8, u8())[0]
            if glitch and len(s["ys"]) == T.LOOK_BACK:
                old = history.still(history.picture_change(y, s["ys"][-1], u8(), u8()),
                                    s["lut"], u8())
                glitch = history.collapse(mask, area, s["history"], s["area"], old, u8())[0]
            if glitch and s["bridged"] < bridge:
                np.maximum(matte, s["history"], out=matte)
                area = s["area"]
                s["bridged"] += 1
            else:
                s["bridged"] = 0
                if weight > 0 and not glitch:
                    history.blend(matte, s["history"], still8, history.unsure(matte, u8()),
                                  weight, np.empty((H, W), np.float32))
        s["history"] = matte.copy()
        s["ys"] = ([y.copy()] + s["ys"])[:T.LOOK_BACK]
        s["area"] = area
        return matte
    return new_matte


@pytest.mark.parametrize("weight,motion,bridge", [(0.95, 6.0, 3), (0.8, 3.0, 1), (0.5, 12.0, 0)])
def test_new_matte_gives_the_full_frame_rules_numbers(weight, motion, bridge):
    st = TemporalState(W, H, history=weight, history_motion=motion, history_bridge=bridge,
                       scene_cut=0)
    ref = full_frame_history(weight, motion, bridge)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    room = noisy(TEXTURE, 0.0, 0)
    for i in range(40):
        cx = 30 + (i if i < 12 else 12) * 1.5  # walks in, then stands
        person = ((xx - cx) / 9.0) ** 2 + ((yy - 40) / 22.0) ** 2 < 1.0
        picture = np.where(person, 200, room).astype(np.uint8)
        y = noisy(picture, 1.5 + (i % 3), 100 + i)
        soft = np.clip((1.2 - (((xx - cx) / 9.0) ** 2 + ((yy - 40) / 22.0) ** 2)) * 2.5, 0, 1)
        matte = np.clip(soft + np.random.RandomState(i).normal(0, 0.03, (H, W)), 0, 1)
        matte[matte < 0.05] = 0.0
        if i in (20, 21, 30):
            matte[:] = 0.0  # the network loses the person on a still picture
        if i == 34:
            matte[:] = 0.0015  # nothing rounds to a level: no box at all
        shown = step(st, y, matte)
        expected = ref(y, matte.astype(np.float32).copy())
        assert np.array_equal(shown, expected), i
    assert np.array_equal(st.history_y, y)


def test_the_y_planes_follow_the_frames_whatever_happens_between():
    st = TemporalState(W, H, history=0.9)
    planes = [noisy(TEXTURE, 2.0, i) for i in range(6)]
    step(st, planes[0], person_matte())
    step(st, planes[1], person_matte())
    st.begin_frame((640, 360), planes[2])  # inference failed: no matte this frame
    st.inference_failed()
    assert np.array_equal(st.prev_y, planes[2]) and np.array_equal(st.history_y, planes[1])
    for i in (3, 4, 5):
        step(st, planes[i], person_matte())
    assert [np.array_equal(a, b) for a, b in zip(st._ys, planes[5:2:-1])] == [True] * 3
    assert len(set(id(a) for a in st._ys + [st.prev_y])) == 3  # prev_y is the history's
    assert st.begin_frame((640, 360), (255 - planes[5]).astype(np.uint8)) == "scene cut"
    assert np.array_equal(st.history_y, planes[5])  # (forgotten, but not overwritten)


def test_the_person_mask_of_the_quantised_matte_is_the_person_mask():
    half = np.float32(0.5)
    m = rng.uniform(0, 1, (H, W)).astype(np.float32)
    m[0, :6] = [np.nextafter(half, np.float32(0)), half, np.nextafter(half, np.float32(1)),
                0.0, 1.0, np.nan]
    a8 = history.quantise(m, np.empty((H, W), np.uint8))
    assert list(a8[0, :3]) == [127, 128, 128]
    assert np.array_equal(history.person_mask_of(a8, np.empty((H, W), np.uint8)),
                          history.person_mask(m, np.empty((H, W), np.uint8)))


@pytest.mark.parametrize("margin", [0, 5, None])
def test_a_nonzero_box_gives_the_numbers_of_the_whole_matte(margin):
    """new_matte told the box the matte is 0 outside (tight, loose, or the whole: None
    boxes some frames) keeps and shows what it does without, bridges and empty frames
    included."""
    whole = TemporalState(W, H, history=0.95, history_motion=6.0, history_bridge=2,
                          scene_cut=0)
    boxed = TemporalState(W, H, history=0.95, history_motion=6.0, history_bridge=2,
                          scene_cut=0)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    room = noisy(TEXTURE, 0.0, 0)
    bridged = []
    for i in range(30):
        cx = 25 + (i if i < 10 else 10) * 2.0
        person = ((xx - cx) / 9.0) ** 2 + ((yy - 40) / 22.0) ** 2 < 1.0
        y = noisy(np.where(person, 200, room).astype(np.uint8), 1.5, 200 + i)
        matte = np.clip(1.2 - (((xx - cx) / 9.0) ** 2 + ((yy - 40) / 22.0) ** 2), 0, 1)
        matte = matte.astype(np.float32)
        matte[0, 0] = 1e-4  # rounds to no level, outside the active box
        if i in (14, 15, 16, 22):
            matte[:] = 0.0  # lost on a still picture: bridged, then believed
        x, y0, w, h = cv2.boundingRect((matte != 0).astype(np.uint8))
        if margin is None:
            box = None if i % 3 == 0 else (x, y0, x + w, y0 + h)
        else:
            box = (max(0, x - margin), max(0, y0 - margin), min(W, x + w + margin),
                   min(H, y0 + h + margin)) if w else (0, 0, 0, 0)
        for st, b in ((whole, None), (boxed, box)):
            st.begin_frame((640, 360), y)
        a = whole.new_matte(matte.copy())
        b = boxed.new_matte(matte.copy(), box)
        assert np.array_equal(a, b) and np.array_equal(whole.history, boxed.history), i
        assert whole.bridged == boxed.bridged
        bridged.append(whole.bridged)
    assert bridged[14:17] == [1, 2, 0]  # the frames meant to bridge did
