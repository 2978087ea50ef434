"""utils/nv21.py, utils/composite.py and utils/background.py on synthetic frames."""
import cv2
import numpy as np
import pytest

from utils import composite, nv21
from utils.background import Background, background_kind, cover, parse_color

from test_skill_support import scene


def rand_nv21(w, h, seed):
    return np.random.RandomState(seed).randint(0, 256, (h * 3 // 2, w)).astype(np.uint8)


# -- NV21 planes ---------------------------------------------------------------------

def test_planes_are_views_with_the_right_shapes():
    f = rand_nv21(64, 48, 0)
    y, vu = nv21.planes(f)
    assert y.shape == (48, 64) and vu.shape == (24, 64)
    assert np.shares_memory(y, f) and np.shares_memory(vu, f)
    pairs = nv21.vu_pairs(f)
    assert pairs.shape == (24, 32, 2)
    assert pairs[5, 7, 0] == f[48 + 5, 14] and pairs[5, 7, 1] == f[48 + 5, 15]


def test_bgr_to_nv21_matches_opencv_decoding():
    rng = np.random.RandomState(1)
    bgr = cv2.GaussianBlur(rng.randint(0, 256, (60, 80, 3)).astype(np.uint8), (7, 7), 3)
    f = nv21.bgr_to_nv21(bgr)
    assert f.shape == (90, 80)
    back = cv2.cvtColor(f, cv2.COLOR_YUV2BGR_NV21)
    # 4:2:0 subsampling of a smooth picture: small error only
    assert np.abs(back.astype(int) - bgr).mean() < 3.0
    # V comes before U: a pure red picture has V > 128 (at even bytes) and U < 128
    red = nv21.bgr_to_nv21(np.full((4, 4, 3), (0, 0, 255), np.uint8))
    assert red[4, 0] > 200 and red[4, 1] < 128


@pytest.mark.parametrize("shape,needle", [
    ((91, 80), "91 rows"),   # not H*3/2 for any H
    ((22, 16), "22 rows"),   # an odd H would need a fractional row count
    ((90, 81), "81x60"),     # odd width
    ((0, 80), "80x0"),       # empty
])
def test_nv21_shape_errors_are_clear(shape, needle):
    with pytest.raises(ValueError) as e:
        nv21.nv21_size(np.zeros(shape, np.uint8))
    assert needle in str(e.value)
    assert nv21.nv21_size(np.zeros((81, 80), np.uint8)) == (80, 54)


@pytest.mark.parametrize("w,h", [(81, 60), (80, 61), (1, 2)])
def test_odd_bgr_sizes_are_rejected_with_the_size(w, h):
    with pytest.raises(ValueError) as e:
        nv21.bgr_to_nv21(np.zeros((h, w, 3), np.uint8))
    assert "%dx%d" % (w, h) in str(e.value) and "even" in str(e.value)


def test_wrong_dtype_and_dims_are_rejected():
    with pytest.raises(ValueError, match="uint8"):
        nv21.nv21_size(np.zeros((90, 80), np.float32))
    with pytest.raises(ValueError, match="numpy"):
        nv21.nv21_size([[0]])
    with pytest.raises(ValueError):
        nv21.as_nv21(np.zeros((60, 80, 4), np.uint8))


def test_resize_keeps_planes_apart():
    f = nv21.solid(64, 48, (0, 0, 255))
    small = nv21.resize(f, 32, 24)
    assert small.shape == (36, 32)
    assert np.array_equal(small[:24], np.full((24, 32), f[0, 0]))
    assert np.array_equal(small[24:], np.tile(f[48, :2], (12, 16)))
    with pytest.raises(ValueError, match="even"):
        nv21.resize(f, 33, 24)


def test_solid_colour():
    f = nv21.solid(8, 4, (0, 255, 0))
    bgr = cv2.cvtColor(f, cv2.COLOR_YUV2BGR_NV21)
    assert np.abs(bgr.astype(int) - (0, 255, 0)).max() <= 2


# -- compositing ---------------------------------------------------------------------

def float_reference(fg, bg, a):
    return np.clip(np.round(fg * (a / 255.0) + bg * (1 - a / 255.0)), 0, 255)


@pytest.mark.parametrize("w,h", [(64, 48), (320, 180), (1282, 722)])
def test_composite_within_one_level_of_float_reference(w, h):
    fg, bg = rand_nv21(w, h, 2), rand_nv21(w, h, 3)
    a = np.random.RandomState(4).randint(0, 256, (h, w)).astype(np.uint8)
    out = nv21.empty(w, h)
    composite.Compositor().run(fg, bg, a, out)
    ref_y = float_reference(fg[:h].astype(float), bg[:h].astype(float), a.astype(float))
    assert np.abs(out[:h].astype(int) - ref_y).max() <= 1
    # chroma: the alpha of each 2x2 block, the same for the V and U byte of a pair
    a_half = a.astype(float).reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    a_vu = np.repeat(a_half, 2, axis=1)
    ref_vu = float_reference(fg[h:].astype(float), bg[h:].astype(float), a_vu)
    assert np.abs(out[h:].astype(int) - ref_vu).max() <= 1


def test_composite_with_a_given_chroma_alpha():
    w, h = 64, 48
    fg, bg = rand_nv21(w, h, 7), rand_nv21(w, h, 8)
    a = np.random.RandomState(9).randint(0, 256, (h, w)).astype(np.uint8)
    a_half = np.random.RandomState(10).randint(0, 256, (h // 2, w // 2)).astype(np.uint8)
    out = composite.Compositor().run(fg, bg, a, nv21.empty(w, h), a_half)
    ref_vu = float_reference(fg[h:].astype(float), bg[h:].astype(float),
                             np.repeat(a_half.astype(float), 2, axis=1))
    assert np.abs(out[h:].astype(int) - ref_vu).max() <= 1
    with pytest.raises(ValueError, match="alpha_half"):
        composite.Compositor().run(fg, bg, a, nv21.empty(w, h), a_half[:, :10])


def test_composite_extremes_are_exact():
    w, h = 32, 16
    fg, bg = rand_nv21(w, h, 5), rand_nv21(w, h, 6)
    out = nv21.empty(w, h)
    c = composite.Compositor()
    c.run(fg, bg, np.full((h, w), 255, np.uint8), out)
    assert np.array_equal(out, fg)
    c.run(fg, bg, np.zeros((h, w), np.uint8), out)
    assert np.array_equal(out, bg)


def whole_frame_blend(fg, bg, a, a_half):
    """The blend over every pixel (what the compositor did before it skipped alpha 0)."""
    h, w = a.shape
    out = nv21.empty(w, h)
    tmp = np.empty((h, w), np.uint8)
    composite.blend(fg[:h], bg[:h], a, 255 - a, out[:h], tmp)
    a_vu = np.repeat(a_half, 2, axis=1)
    composite.blend(fg[h:], bg[h:], a_vu, 255 - a_vu, out[h:], tmp[:h // 2])
    return out


@pytest.mark.parametrize("box", [(11, 5, 29, 27), (0, 0, 64, 48), (63, 47, 64, 48),
                                 (1, 0, 2, 48)])
def test_composite_outside_the_alpha_box_is_the_background_exactly(box):
    # only the box of non-zero alpha is blended; the output is the whole-frame blend's
    w, h = 64, 48
    x0, y0, x1, y1 = box
    fg, bg = rand_nv21(w, h, 11), rand_nv21(w, h, 12)
    a = np.zeros((h, w), np.uint8)
    a[y0:y1, x0:x1] = np.random.RandomState(13).randint(1, 256, (y1 - y0, x1 - x0))
    half = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    c = composite.Compositor()
    out = c.run(fg, bg, a, nv21.empty(w, h))
    assert np.array_equal(out, whole_frame_blend(fg, bg, a, half))
    # a chroma alpha that reaches past the full-size one is blended where it is non-zero
    half2 = half.copy()
    half2[0, w // 2 - 1] = 200
    out = c.run(fg, bg, a, nv21.empty(w, h), half2)
    assert np.array_equal(out, whole_frame_blend(fg, bg, a, half2))
    a.fill(0)
    out = c.run(fg, bg, a, nv21.empty(w, h), half2)
    assert np.array_equal(out, whole_frame_blend(fg, bg, a, half2))
    assert composite.alpha_box(a) == (0, 0, 0, 0)



def test_a_still_background_is_copied_only_where_the_last_box_was():
    # with a still background the output keeps the background outside the last box: a run
    # of moving, growing, vanishing boxes gives what whole-frame blends give
    w, h = 64, 48
    rng = np.random.RandomState(21)
    bg = rand_nv21(w, h, 22)
    c, out = composite.Compositor(), nv21.empty(w, h)
    boxes = [(10, 4, 30, 40), (12, 6, 34, 44), (0, 0, 64, 48), (40, 20, 64, 48), None,
             (2, 2, 8, 8), (50, 0, 64, 10), None, None, (20, 10, 44, 30)]
    for i, box in enumerate(boxes):
        fg = rand_nv21(w, h, 30 + i)
        a = np.zeros((h, w), np.uint8)
        if box is not None:
            x0, y0, x1, y1 = box
            a[y0:y1, x0:x1] = rng.randint(1, 256, (y1 - y0, x1 - x0))
        half = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        got = c.run(fg, bg, a, out, half, composite.alpha_box(a, half), still_bg=True)
        assert got is out and np.array_equal(out, whole_frame_blend(fg, bg, a, half)), i
    # another background (or another output buffer) is copied whole again
    bg2 = rand_nv21(w, h, 23)
    a = np.zeros((h, w), np.uint8)
    a[5:9, 5:9] = 255
    half = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    c.run(fg, bg2, a, out, half, composite.alpha_box(a, half), still_bg=True)
    assert np.array_equal(out, whole_frame_blend(fg, bg2, a, half))
    out.fill(0)  # someone else wrote into it: forget() says so
    c.forget()
    c.run(fg, bg2, a, out, half, composite.alpha_box(a, half), still_bg=True)
    assert np.array_equal(out, whole_frame_blend(fg, bg2, a, half))

def test_composite_rejects_mismatched_inputs():
    c = composite.Compositor()
    fg = rand_nv21(32, 16, 0)
    with pytest.raises(ValueError, match="background"):
        c.run(fg, rand_nv21(16, 16, 0), np.zeros((16, 32), np.uint8), nv21.empty(32, 16))
    with pytest.raises(ValueError, match="alpha"):
        c.run(fg, fg, np.zeros((16, 30), np.uint8), nv21.empty(32, 16))


def test_matte_output():
    a = np.random.RandomState(0).randint(0, 256, (16, 32)).astype(np.uint8)
    out = composite.matte(a, nv21.empty(32, 16))
    assert np.array_equal(out[:16], a) and (out[16:] == 128).all()


def test_side_by_side_keeps_the_output_size():
    w, h = 640, 360
    left = nv21.solid(w, h, (0, 0, 255))
    right = nv21.solid(w, h, (255, 0, 0))
    out = composite.SideBySide().run(left, right, nv21.empty(w, h))
    assert out.shape == (540, 640)
    bgr = cv2.cvtColor(out, cv2.COLOR_YUV2BGR_NV21)
    assert np.abs(bgr[180, 160].astype(int) - (0, 0, 255)).max() <= 3   # left: input
    assert np.abs(bgr[180, 480].astype(int) - (255, 0, 0)).max() <= 3   # right: result
    assert bgr[10, 320].max() <= 3  # letterbox is black


# -- backgrounds ---------------------------------------------------------------------

def test_cover_fills_and_keeps_aspect():
    img = np.zeros((100, 300, 3), np.uint8)
    img[:, 100:200] = 255  # the centre third
    out = cover(img, 64, 64)
    assert out.shape == (64, 64, 3)
    assert out[32, 32].min() == 255  # centre kept, not squeezed
    assert out[32, 0].min() == 255 and out[32, 63].min() == 255


def test_image_background_is_cached_per_size(tmp_path):
    path = str(tmp_path / "bg.png")
    cv2.imwrite(path, np.full((90, 160, 3), (30, 90, 200), np.uint8))
    bg = Background(path)
    a = bg.frame(64, 36)
    assert a is bg.frame(64, 36)  # converted once
    b = bg.frame(32, 18)
    assert b.shape == (27, 32)
    colour = cv2.cvtColor(a, cv2.COLOR_YUV2BGR_NV21)[18, 32].astype(int)
    assert np.abs(colour - (30, 90, 200)).max() <= 3


@pytest.mark.parametrize("spec,bgr", [("#ff0000", (0, 0, 255)), ("green", (0, 255, 0)),
                                      ("10,200,30", (30, 200, 10))])
def test_colour_backgrounds(spec, bgr):
    f = Background(spec).frame(16, 8)
    got = cv2.cvtColor(f, cv2.COLOR_YUV2BGR_NV21)[4, 8].astype(int)
    assert np.abs(got - bgr).max() <= 3


def test_blur_background_follows_the_live_frame():
    bg = Background("blur", blur_size=5)
    frame = scene(128, 72, (40, 10, 88, 72))
    small = nv21.resize(frame, 64, 36)
    out = bg.frame(128, 72, small)
    y = out[:72].astype(int)
    assert y[40, 64] > 150 and y[40, 2] < 80  # bright centre, dark sides: it is the frame
    edge_in = np.abs(np.diff(frame[:72].astype(int), axis=1)).max()
    edge_out = np.abs(np.diff(y, axis=1)).max()
    assert edge_out < edge_in / 3  # and blurred
    dark = bg.frame(128, 72, nv21.resize(scene(128, 72), 64, 36))
    assert dark[:72].max() < 80  # updated every frame


def test_video_background_loops(tmp_path):
    path = str(tmp_path / "bg.avi")
    wr = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 16))
    for v in (20, 120, 220):
        wr.write(np.full((16, 32, 3), v, np.uint8))
    wr.release()
    bg = Background(path)
    ys = [int(bg.frame(32, 16)[8, 16]) for _ in range(7)]
    assert ys[0] < ys[1] < ys[2]
    assert ys[3:6] == ys[0:3] and ys[6] == ys[0]


def test_alpha_background_is_the_matte_mode():
    bg = Background("alpha")
    assert bg.is_matte
    with pytest.raises(ValueError):
        bg.frame(16, 8)


@pytest.mark.parametrize("value,kind", [
    ("blur", "blur"), ("GREEN", "green"), ("alpha", "alpha"), ("#102030", "color"),
    ("color:#ff0000", "color"), ("10,20,30", "color"), ("x.PNG", "image"), ("b.mp4", "video"),
    ("c.264", "video"), ("d.h264", "video"),
])
def test_background_kinds(value, kind):
    assert background_kind(value) == kind


def test_background_kind_names_what_is_expected():
    with pytest.raises(ValueError) as e:
        background_kind("clip.gif")
    assert ".jpg" in str(e.value) and ".264" in str(e.value)


def test_parse_color_is_bgr_and_rejects_garbage():
    assert parse_color("#ff8000") == (0, 128, 255)
    assert parse_color("1,2,3") == (3, 2, 1)
    for bad in ("#ff80", "1,2", "256,0,0", "#gg0000", "red"):
        with pytest.raises(ValueError):
            parse_color(bad)


@pytest.mark.parametrize("spec", ["missing.jpg", "missing.mp4", "not a background"])
def test_unusable_background_falls_back_to_grey(spec, logged, tmp_path):
    bg = Background(str(tmp_path / spec))
    assert bg.kind == "color"
    f = bg.frame(16, 8)
    assert f.shape == (12, 16)
    assert len([m for lvl, m in logged if lvl == "error"]) == 1


def test_a_new_output_buffer_gets_the_whole_background_even_in_the_old_ones_memory():
    # what the last call left in its output holds for that very array: a new output of the
    # same size (here where the allocator gives the freed one's memory back) is not taken
    # for it
    w, h = 640, 480
    bg, fg = rand_nv21(w, h, 40), rand_nv21(w, h, 41)
    a = np.zeros((h, w), np.uint8)
    a[100:200, 100:300] = 255
    half = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    c = composite.Compositor()
    out = nv21.empty(w, h)
    c.run(fg, bg, a, out, half, composite.alpha_box(a, half), still_bg=True)
    del out
    for _ in range(3):
        out = np.zeros((h * 3 // 2, w), np.uint8)
        c.run(fg, bg, a, out, half, composite.alpha_box(a, half), still_bg=True)
        assert np.array_equal(out, whole_frame_blend(fg, bg, a, half))
        del out
