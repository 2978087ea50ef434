"""tools/evaluate/synth_sequence.py: the plan, GT consistency with the pixels, reproducibility."""
import cv2
import numpy as np
import pytest

from tools.evaluate import synth_sequence as ss

BLUE = (200, 60, 30)      # BGR background plate
RED = (30, 50, 210)       # BGR person


def make_pairs(tmp_path, sizes=((90, 120), (61, 97), (100, 80))):
    """hsd-like folder of red ellipse 'people' on green; returns list_pairs-style tuples."""
    (tmp_path / 'images').mkdir()
    (tmp_path / 'masks').mkdir()
    pairs = []
    for i, (h, w) in enumerate(sizes):
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2 + h // 6), (w // 4, h // 2), 0, 0, 360, 255, -1)
        img = np.full((h, w, 3), (40, 160, 40), np.uint8)
        img[mask > 0] = RED
        ip, mp = tmp_path / 'images' / ('%03d.png' % i), tmp_path / 'masks' / ('%03d.png' % i)
        cv2.imwrite(str(ip), img)
        cv2.imwrite(str(mp), mask)
        pairs.append(('%03d' % i, str(ip), str(mp)))
    return pairs


def plate(w=160, h=90):
    p = np.full((h, w, 3), BLUE, np.uint8)
    p[:, ::7] = (180, 80, 60)            # some texture so drift changes pixels
    return p


CFG = ss.SynthConfig(n_frames=24, size=(128, 72))


def test_plan_phases_and_too_short():
    e = ss.plan(24, CFG)
    assert 0 < e['exit_start'] < e['out_start'] < e['entry_start'] < e['rest_start'] < 24
    with pytest.raises(ValueError, match='at least'):
        ss.plan(12, CFG)


def test_gt_follows_the_plan_and_the_pixels(tmp_path):
    seqs = ss.make_sequences(make_pairs(tmp_path), [plate()], n=3, config=CFG, seed=3)
    for seq in seqs:
        e = seq.events
        for t, (frame, gt) in enumerate(seq):
            assert frame.shape == (72, 128, 3) and frame.dtype == np.uint8
            assert gt.shape == (72, 128) and gt.dtype == bool
            if t < e['exit_start'] or t >= e['rest_start']:
                assert gt.any(), 'person missing at rest, frame %d' % t
            if e['out_start'] <= t < e['entry_start']:
                assert not gt.any(), 'person in the GT while out, frame %d' % t
            # The person is red, the plate blue: the GT must say which is which, up to the
            # one-pixel band the bilinear camera warp blends.
            red = frame[:, :, 2].astype(int) > frame[:, :, 0].astype(int)
            band = cv2.dilate(gt.view(np.uint8), np.ones((3, 3), np.uint8)) != cv2.erode(
                gt.view(np.uint8), np.ones((3, 3), np.uint8))
            assert np.mean((red == gt)[~band]) > 0.995
        # Exit and entry really cross the frame: partial visibility on the way.
        sizes = [seq.frame(t)[1].sum() for t in range(e['exit_start'], e['out_start'])]
        assert sizes[0] > sizes[-1]


def test_effects_are_present_and_bounded(tmp_path):
    seq = ss.make_sequences(make_pairs(tmp_path), [plate()], n=1, config=CFG, seed=0)[0]
    zoom, tx, ty = seq.camera.T
    w, h = CFG.size
    assert np.all(zoom >= CFG.zoom[0] - 1e-9) and np.all(zoom <= CFG.zoom[1] + 1e-9)
    assert np.all(np.abs(tx) <= (zoom - 1) * w / 2) and np.all(np.abs(ty) <= (zoom - 1) * h / 2)
    assert np.ptp(zoom) > 0.005 and np.ptp(seq.gain) > 0.02
    # Two empty frames differ by more than noise alone would make them (drift + gain).
    e = seq.events
    a = seq.frame(e['out_start'])[0].astype(float)
    b = seq.frame(e['entry_start'] - 1)[0].astype(float)
    assert np.abs(a - b).mean() > 1.0


def test_sequences_are_reproducible_and_seeded(tmp_path):
    pairs = make_pairs(tmp_path)
    a = ss.make_sequences(pairs, [plate()], n=2, config=CFG, seed=7)
    b = ss.make_sequences(pairs, [plate()], n=2, config=CFG, seed=7)
    c = ss.make_sequences(pairs, [plate()], n=2, config=CFG, seed=8)
    frames_a = [f for f, _ in a[1]]
    assert all(np.array_equal(x, f) for x, (f, _) in zip(frames_a, b[1]))
    assert not all(np.array_equal(x, f) for x, (f, _) in zip(frames_a, c[1]))
    # Random access renders the same frame as iteration.
    assert np.array_equal(a[1].frame(5)[0], frames_a[5])
    with pytest.raises(IndexError):
        a[1].frame(24)


def test_unusable_masks_are_skipped_or_refused(tmp_path):
    pairs = make_pairs(tmp_path)
    full = tmp_path / 'masks' / 'full.png'
    cv2.imwrite(str(full), np.full((50, 50), 255, np.uint8))
    img = tmp_path / 'images' / 'full.png'
    cv2.imwrite(str(img), np.zeros((50, 50, 3), np.uint8))
    bad = ('full', str(img), str(full))
    seqs = ss.make_sequences([bad] + pairs, [plate()], n=4, config=CFG, seed=0)
    assert len(seqs) == 4 and not any(s.name.startswith('full') for s in seqs)
    with pytest.raises(ValueError, match='no usable person mask'):
        ss.make_sequences([bad], [plate()], n=1, config=CFG)
    with pytest.raises(ValueError, match='no background plates'):
        ss.make_sequences(pairs, [], n=1, config=CFG)


def test_load_plates_reports_missing_video(tmp_path):
    with pytest.raises(FileNotFoundError, match='plate video not found'):
        ss.load_plates(str(tmp_path / 'none.mp4'))
