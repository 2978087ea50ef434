"""tools/train/augment.py and the clip builder of tools/train/data.py on generated photos."""
import cv2
import numpy as np
import pytest

from tools.train import augment, data
from tools.train.augment import MODEL_H, MODEL_W, AugConfig


def _photo(seed, w=320, h=240, cx=160):
    rng = np.random.default_rng(seed)
    rgb = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (cx, 200), (40, 90), 0, 0, 360, 255, -1)
    cv2.circle(mask, (cx, 90), 25, 255, -1)
    rgb[mask > 0] = (230, 200, 180)
    return data.Photo("p%d" % seed, rgb, mask,
                       augment.person_free_boxes(mask.astype(np.float32) / 255),
                       augment.person_crop(rgb, mask))


@pytest.fixture(scope="module")
def photos():
    return [_photo(i, cx=c) for i, c in enumerate((70, 160, 250, 100))]


def _iou(a, b):
    a, b = a >= 0.5, b >= 0.5
    return (a & b).sum() / max(1, (a | b).sum())


def test_train_warp_view_keeps_image_and_mask_aligned():
    mask = np.zeros((240, 320), np.uint8)
    cv2.rectangle(mask, (100, 50), (220, 239), 255, -1)
    rgb = np.dstack([mask] * 3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = augment.random_view(320, 240, rng, AugConfig(zoom_min=0.5))
        img = augment.warp_view(rgb, m)
        gt = augment.warp_view(mask, m)
        assert img.shape == (MODEL_H, MODEL_W, 3) and gt.shape == (MODEL_H, MODEL_W)
        assert np.array_equal(img[..., 0], gt)


def test_train_photometric_range_and_identity():
    rng = np.random.default_rng(1)
    img = rng.random((MODEL_H, MODEL_W, 3), dtype=np.float32)
    gt = np.zeros((MODEL_H, MODEL_W), np.float32)
    gt[40:, 100:160] = 1
    out = augment.photometric(img, gt, rng, AugConfig(p_point_light=1, p_line_light=1,
                                                      p_backlight=1, p_color=1, p_noise=1,
                                                      p_blur=1))
    assert out.dtype == np.float32 and out.shape == img.shape
    assert out.min() >= 0 and out.max() <= 1 and np.abs(out - img).mean() > 0.01
    off = AugConfig(p_point_light=0, p_line_light=0, p_backlight=0, p_color=0, p_noise=0,
                    p_blur=0)
    np.testing.assert_allclose(augment.photometric(img, gt, rng, off), img)


def test_train_lights_add_light_where_they_are():
    rng = np.random.default_rng(2)
    img = np.full((MODEL_H, MODEL_W, 3), 0.2, np.float32)
    for fn in (augment.point_light, augment.line_light):
        out = fn(img, rng)
        assert (out >= img - 1e-6).all() and (out - img).max() > 0.1
    gt = np.zeros((MODEL_H, MODEL_W), np.float32)
    gt[:, :128] = 1
    out = augment.backlight(np.full_like(img, 0.5), gt, rng)
    assert out[:, :100].mean() < 0.5 < out[:, 160:].mean()   # subject darker, background lit


def test_train_priors_near_and_wrong(photos):
    rng = np.random.default_rng(3)
    cfg = AugConfig()
    gt = augment.warp_view(photos[1].mask, augment.random_view(320, 240, rng, cfg))
    gt = gt.astype(np.float32) / 255
    other = np.roll(gt, 100, axis=1)
    near = [_iou(augment.jittered_prior(gt, rng, cfg), gt) for _ in range(20)]
    wrong = [_iou(augment.wrong_prior(gt, other, rng, cfg), gt) for _ in range(20)]
    assert min(near) > 0.4 and np.mean(near) > 0.6
    assert np.mean(wrong) < np.mean(near) - 0.2
    p = augment.jittered_prior(gt, rng, cfg)
    assert p.min() >= 0 and p.max() <= 1 and 0 < ((p > 0.02) & (p < 0.98)).mean()  # soft edges


def test_train_paste_person_partly_outside():
    rgb = np.full((100, 40, 3), 200, np.uint8)
    mask = np.full((100, 40), 255, np.uint8)
    crop = augment.person_crop(rgb, mask)
    assert crop[2]                                     # touches the bottom
    bg = np.zeros((MODEL_H, MODEL_W, 3), np.float32)
    img, gt = augment.paste_person(bg, crop, 0.0, MODEL_H, 100, False, 0.0)
    assert gt[:, :20].mean() > 0.6 and gt[:, 25:].max() == 0    # half of it is outside
    np.testing.assert_allclose(img[..., 0][gt > 0], 200 / 255, atol=1e-6)
    assert img[gt == 0].max() == 0


def test_train_clips_follow_the_events(photos):
    cfg = AugConfig(p_empty=0.15, p_exit=0.2, p_entry=0.2, p_blank=0.3, p_wrong=0.1)
    rng = np.random.default_rng(4)
    modes = dict.fromkeys(data.MODE_NAMES, 0)
    events = dict.fromkeys(data.EVENT_NAMES, 0)
    n = 60
    for i in range(n):
        c = data.make_clip(photos, i % len(photos), rng, cfg, 3)
        modes[c["mode"]] += 1
        events[c["event"]] += 1
        assert len(c["image"]) == len(c["gt"]) == len(c["clean"]) == 3
        for img in c["image"]:
            assert img.shape == (MODEL_H, MODEL_W, 3) and img.dtype == np.float32
            assert 0 <= img.min() and img.max() <= 1
        person = [g.max() > 0.5 for g in c["gt"]]
        if c["event"] == "empty":
            assert not any(person)
        elif c["event"] == "exit":
            assert person[0] and not person[-1] and person == sorted(person, reverse=True)
        elif c["event"] == "entry":
            assert not person[0] and c["mode"] == "blank" and person == sorted(person)
        if c["mode"] == "blank":
            assert c["prior"].max() == 0
        if c["mode"] == "stale":
            assert c["event"] == "empty" and c["prior"].max() > 0.5
    assert all(events.values()), events
    assert modes["blank"] and modes["jitter"] and modes["wrong"], modes


def test_train_clip_frames_share_the_scene(photos):
    # consecutive frames differ by a small motion and sensor changes, not by a new scene
    cfg = AugConfig(p_empty=0, p_exit=0, p_entry=0, p_degrade=0)
    rng = np.random.default_rng(6)
    for i in range(4):
        c = data.make_clip(photos, i, rng, cfg, 3)
        assert _iou(c["gt"][0], c["gt"][1]) > 0.5
        assert np.abs(c["image"][1] - c["image"][0]).mean() < 0.2


def test_train_batches_are_a_function_of_seed_and_step(photos):
    cfg = AugConfig()
    a = data.make_batch(photos, 3, 5, 17, cfg, 2)
    b = data.make_batch(photos, 3, 5, 17, cfg, 2)
    c = data.make_batch(photos, 3, 5, 18, cfg, 2)
    for k in ("image", "gt", "prior", "clean"):
        assert a[k].equal(b[k])
    assert a["mode"] == b["mode"] and a["event"] == b["event"]
    assert not a["image"].equal(c["image"])
    assert tuple(a["image"].shape) == (2, 3, 3, MODEL_H, MODEL_W)
    assert tuple(a["gt"].shape) == (2, 3, 1, MODEL_H, MODEL_W)
    assert tuple(a["prior"].shape) == (3, 1, MODEL_H, MODEL_W)
