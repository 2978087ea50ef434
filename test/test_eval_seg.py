"""tools/evaluate/eval_seg.py and tools/evaluate/seg_runners.py end to end on tiny model-contract
ONNX files.

The tiny model is alpha = sigmoid(k * (R - B) + g * prev_alpha): red 'people' on a blue
background segment perfectly, k < 0 inverts it, and g > 0 makes the feedback sticky.
"""
import json
import os

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tools.evaluate import eval_seg
from tools.evaluate import seg_runners as sr
from tools.evaluate import synth_sequence as ss

BLUE = (200, 60, 30)
RED = (30, 50, 210)


def tiny_model(path, w, h, feedback=False, k=12.0, g=0.0):
    image = helper.make_tensor_value_info('image', TensorProto.FLOAT, [1, 3, h, w])
    alpha = helper.make_tensor_value_info('alpha', TensorProto.FLOAT, [1, 1, h, w])
    weight = helper.make_tensor('wt', TensorProto.FLOAT, [1, 3, 1, 1], [k, 0.0, -k])
    nodes = [helper.make_node('Conv', ['image', 'wt'], ['z'])]
    inputs = [image]
    inits = [weight]
    last = 'z'
    if feedback:
        inputs.append(helper.make_tensor_value_info('prev_alpha', TensorProto.FLOAT,
                                                    [1, 1, h, w]))
        inits.append(helper.make_tensor('g', TensorProto.FLOAT, [], [g]))
        nodes += [helper.make_node('Mul', ['prev_alpha', 'g'], ['gp']),
                  helper.make_node('Add', ['z', 'gp'], ['zp'])]
        last = 'zp'
    nodes.append(helper.make_node('Sigmoid', [last], ['alpha']))
    graph = helper.make_graph(nodes, 'tiny', inputs, [alpha], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def make_data(root, sizes=((90, 120), (61, 97), (100, 80), (47, 33))):
    """hsd-like folder: red ellipses (the 'person' masks) on blue, odd sizes included."""
    os.makedirs(os.path.join(root, 'images'))
    os.makedirs(os.path.join(root, 'masks'))
    for i, (h, w) in enumerate(sizes):
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2 + h // 6), (w // 4, h // 2), 0, 0, 360, 255, -1)
        img = np.full((h, w, 3), BLUE, np.uint8)
        img[mask > 0] = RED
        cv2.imwrite(os.path.join(root, 'images', '%03d.jpg' % i), img)
        cv2.imwrite(os.path.join(root, 'masks', '%03d.png' % i), mask)
    return os.path.join(root, 'images'), os.path.join(root, 'masks')


@pytest.fixture
def data(tmp_path):
    return make_data(str(tmp_path / 'hsd'))


def test_rgb_and_aipp_paths_segment_the_red_people(tmp_path, data):
    # 64x48 is not the repo aipp.cfg's 256x144: the AIPP runner must derive its own cfg.
    model = tiny_model(tmp_path / 'm.onnx', 64, 48)
    rgb = eval_seg.evaluate_images(sr.OnnxRgbRunner(model), *data, per_image=True)
    aipp_runner = sr.AippRunner(model)
    with open(os.path.join(aipp_runner.tmp, 'aipp.cfg')) as f:
        cfg = sr.aipp_values(f.read())
    assert (cfg['src_image_size_w'], cfg['src_image_size_h']) == (64, 48)
    aipp = eval_seg.evaluate_images(aipp_runner, *data)
    for r in (rgb, aipp):
        assert r['n'] == 4
        assert r['fg_iou'] > 0.9 and r['miou'] > 0.9 and r['boundary_f'] > 0.8
        assert r['mae'] < 0.1 and r['ms'] > 0
    assert sorted(rgb['per_image']) == ['000', '001', '002', '003']
    # NV21 halves the chroma resolution; the two paths still agree closely here.
    assert abs(rgb['fg_iou'] - aipp['fg_iou']) < 0.05
    inverted = eval_seg.evaluate_images(sr.OnnxRgbRunner(tiny_model(tmp_path / 'i.onnx', 64, 48,
                                                                    k=-12.0)), *data)
    assert inverted['fg_iou'] < 0.1 and inverted['mae'] > 0.8


def test_feedback_models_get_zero_prior_on_photos(tmp_path, data):
    # A large g would paint everything as person if the prior were not zeros.
    model = tiny_model(tmp_path / 'fb.onnx', 64, 48, feedback=True, g=50.0)
    r = eval_seg.evaluate_images(sr.OnnxRgbRunner(model), *data)
    assert r['fg_iou'] > 0.9


def test_cli_prints_both_paths_and_compares_with_a_reference(tmp_path, data, capsys):
    model = tiny_model(tmp_path / 'm.onnx', 64, 48)
    out = str(tmp_path / 'r.json')
    eval_seg.main(['--model', model, '--images', data[0], '--masks', data[1], '--path', 'both',
                   '--json', out])
    text = capsys.readouterr().out
    assert (model + ' [aipp]') in text and (model + ' [rgb]') in text and 'bound F' in text
    with open(out) as f:
        saved = json.load(f)
    ref = str(tmp_path / 'ref.json')
    with open(ref, 'w') as f:
        json.dump(saved[model + ' [rgb]'], f)
    results = eval_seg.main(['--model', model, '--images', data[0], '--masks', data[1],
                             '--path', 'rgb', '--reference', ref])
    assert results[0][1]['d_iou_max'] == 0.0
    assert '|dIoU| max' in capsys.readouterr().out


def test_bad_model_and_data_give_clear_errors(tmp_path, data, capsys):
    with pytest.raises(FileNotFoundError, match='model not found'):
        sr.OnnxRgbRunner(str(tmp_path / 'missing.onnx'))
    with pytest.raises(FileNotFoundError, match='image folder not found'):
        eval_seg.evaluate_images(sr.OnnxRgbRunner(tiny_model(tmp_path / 'm.onnx', 64, 48)),
                                 str(tmp_path / 'nope'), data[1])
    for argv, msg in ((['--model', 'gt'], '--model gt needs --temporal'),
                      (['--model', 'm.onnx', '--temporal', '--flow-smooth', '0'],
                       '--flow-smooth must be in'),
                      (['--model', 'm.onnx', '--temporal', '--photometric', 'dim'],
                       'invalid choice')):
        with pytest.raises(SystemExit):
            eval_seg.parse_args(argv)
        assert msg in capsys.readouterr().err


def test_recovery_counts_frames_from_the_events():
    events = {'n_frames': 12, 'exit_start': 2, 'out_start': 4, 'entry_start': 7, 'rest_start': 8}

    def rec(person, iou, mean_alpha):
        return {'person': person, 'iou': iou if person else float('nan'),
                'mean_alpha': mean_alpha}
    recs = ([rec(True, 0.9, 0.3)] * 3                 # rest, exit start
            + [rec(False, 0, a) for a in (0.2, 0.05, 0.01, 0.0)]   # out from frame 3
            + [rec(True, 0.5, 0.3)]                   # entry frame 7
            + [rec(True, v, 0.3) for v in (0.4, 0.7, 0.9, 0.9)])   # rest from frame 8
    exit_k, exit_c, entry_k, entry_c, steady = eval_seg.recovery(recs, events)
    assert (exit_k, exit_c) == (2, False)      # frame 3 is the first empty; frame 5 < 0.02
    assert steady == pytest.approx(0.9)        # median of frames 10, 11
    assert (entry_k, entry_c) == (2, False)    # frame 10 reaches 0.95 * 0.9
    stuck = recs[:3] + [rec(False, 0, 0.5)] * 4 + recs[7:]
    exit_k, exit_c = eval_seg.recovery(stuck, events)[:2]
    assert (exit_k, exit_c) == (4, True)


def test_temporal_feedback_on_and_off(tmp_path):
    data = make_data(str(tmp_path / 'hsd'), sizes=((90, 120), (100, 80), (80, 60)))
    plate = np.full((90, 160, 3), BLUE, np.uint8)
    from tools.evaluate.seg_metrics import list_pairs
    cfg = ss.SynthConfig(n_frames=24, size=(128, 72))
    seqs = ss.make_sequences(list_pairs(*data), [plate], n=2, config=cfg, seed=1)
    # g = 12 keeps a pixel 'person' once it was (z = -k*0.67 + 12 > 0): a sticky prior.
    sticky = sr.OnnxRgbRunner(tiny_model(tmp_path / 's.onnx', 64, 36, feedback=True, g=12.0))
    plain = sr.OnnxRgbRunner(tiny_model(tmp_path / 'p.onnx', 64, 36))
    on, off, none = eval_seg.evaluate_temporal_many(
        [(sticky, True), (sticky, False), (plain, True)], seqs)
    assert on['feedback'] and not off['feedback'] and not none['feedback']
    for r in (off, none):
        assert r['n'] == 2 and r['frames'] == 48
        assert r['iou'] > 0.8 and r['empty_alpha'] < 0.02
        assert r['exit_recover'] == 0 and r['censored'] == 0
    # The sticky model never lets go of the person after the exit.
    assert on['empty_alpha'] > 0.05
    assert on['censored'] >= 2 and on['exit_recover'] > 0
    assert on['tempo_err'] > off['tempo_err']
    single = eval_seg.evaluate_temporal(sticky, seqs, feedback=False)
    assert single['iou'] == pytest.approx(off['iou'])


def test_resize_modes_differ_by_the_half_pixel():
    img = np.tile(np.arange(8, dtype=np.uint8) * 10, (4, 1))[:, :, None].repeat(3, 2)
    mp = sr.resize_to_model(img, 4, 2, 'mediapipe')
    lin = sr.resize_to_model(img, 4, 2, 'linear')
    assert list(mp[0, :, 0]) == [0, 20, 40, 60]       # corner-aligned: samples x = 0, 2, 4, 6
    assert list(lin[0, :, 0]) == [5, 25, 45, 65]      # half-pixel centres: x = 0.5, 2.5, ...
    with pytest.raises(ValueError, match='resize mode'):
        sr.resize_to_model(img, 4, 2, 'cubic')


def test_aipp_helpers_on_the_repo_config():
    text = sr.read_aipp(sr.DEFAULT_AIPP)
    sub, scale = sr.aipp_normalisation(text)
    assert np.allclose(sub, 0) and np.allclose(scale, 1 / 255.0)
    resized = sr.aipp_values(sr.aipp_for_size(text, 256, 256))
    assert (resized['src_image_size_w'], resized['src_image_size_h']) == (256, 256)
    added = sr.aipp_values(sr.aipp_for_size('aipp_op {\n  input_format: 1\n}\n', 32, 16))
    assert (added['src_image_size_w'], added['src_image_size_h']) == (32, 16)


def test_fn_and_torch_runners_see_nchw_rgb_and_prior():
    import torch
    seen = {}

    def fn(image, prev):
        seen['image'], seen['prev'] = image, prev
        return image[:, :1] * 0 + prev
    runner = sr.FnRunner(fn, (8, 6), feedback=True)
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 2] = 255                                  # pure red in BGR
    prev = np.full((6, 8), 0.25, np.float32)
    out = runner(bgr, prev)
    assert seen['image'].shape == (1, 3, 6, 8) and seen['prev'].shape == (1, 1, 6, 8)
    assert np.allclose(seen['image'][0, 0], 1.0) and np.allclose(seen['image'][0, 2], 0.0)
    assert out.shape == (6, 8) and np.allclose(out, 0.25)

    class Net(torch.nn.Module):
        def forward(self, image, prev):
            return (torch.sigmoid(20 * (image[:, :1] - image[:, 2:3])) + 0 * prev,)
    net = Net().train()
    t = sr.TorchRunner(net, (8, 6), feedback=True)
    a = t(bgr, prev)
    assert a.shape == (6, 8) and a.min() > 0.99 and net.training


def test_still_and_moving_temporal_error_follow_the_phases():
    events = {'n_frames': 12, 'exit_start': 2, 'out_start': 4, 'entry_start': 7, 'rest_start': 9}
    person = [True] * 4 + [False] * 3 + [True] * 5
    # step_err of frame t: 1 on still pairs, 10 on sliding pairs, 100 on empty-room pairs
    still = {1, 10, 11}
    moving = {2, 3, 4, 7, 8, 9}
    recs = [{'person': p, 'iou': 0.9 if p else float('nan'), 'mean_alpha': 0.0 if not p else 0.3,
             'step_err': float('nan') if t == 0 else
             (1.0 if t in still else 10.0 if t in moving else 100.0), 'ms': 1.0}
            for t, p in enumerate(person)]

    class Seq(object):
        name = 's'
    seq = Seq()
    seq.events = events
    r = eval_seg.summarize_temporal([(seq, recs)])
    assert r['tempo_err_still'] == pytest.approx(1e3)
    assert r['tempo_err_move'] == pytest.approx(10e3)
    assert r['tempo_err'] == pytest.approx(np.mean([recs[t]['step_err'] for t in range(1, 12)]) * 1e3)


def test_ground_truth_runner_and_photometric_control(tmp_path):
    data = make_data(str(tmp_path / 'hsd'), sizes=((90, 120), (100, 80)))
    plate = np.full((90, 160, 3), BLUE, np.uint8)
    from tools.evaluate.seg_metrics import list_pairs
    cfg = ss.SynthConfig(n_frames=24, size=(128, 72))
    clean_cfg = ss.SynthConfig(n_frames=24, size=(128, 72), **ss.PHOTOMETRIC_OFF)
    seqs = ss.make_sequences(list_pairs(*data), [plate], n=2, config=cfg, seed=3)
    clean = ss.make_sequences(list_pairs(*data), [plate], n=2, config=clean_cfg, seed=3)
    # The control keeps people, plates and motion: same GT, only the picture's noise differs.
    for t in (0, 9, 23):
        (f, g), (fc, gc) = seqs[0].frame(t), clean[0].frame(t)
        assert np.array_equal(g, gc) and not np.array_equal(f, fc)
    gt = sr.GroundTruthRunner((64, 36))
    plain = sr.OnnxRgbRunner(tiny_model(tmp_path / 'p.onnx', 64, 36))
    g, m = eval_seg.evaluate_temporal_many([(gt, False), (plain, False)], clean)
    assert g['iou'] > 0.9 and g['empty_alpha'] == 0 and g['exit_recover'] == 0
    # Only the model-size resolution separates the GT runner from a perfect score.
    assert 0 < g['tempo_err'] < m['tempo_err'] + 1e-9


def test_flow_smoothing_follows_motion_where_plain_averaging_lags():
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (60, 200, 3)).astype(np.uint8)
    texture = cv2.GaussianBlur(texture, (0, 0), 1.5)
    smoother = eval_seg.FlowSmoother(0.5)
    ema = None
    for t in range(12):
        frame = np.ascontiguousarray(texture[:, t * 4:t * 4 + 96])
        alpha = np.zeros((60, 96), np.float32)
        alpha[15:45, 60 - 4 * t:80 - 4 * t] = 1.0    # a box glued to the texture
        out = smoother(frame, alpha)
        ema = alpha if ema is None else 0.5 * alpha + 0.5 * ema
    # Warped, the history lands on the box's current place; averaged in place, it trails it.
    err_flow = np.abs(out - alpha).mean()
    err_ema = np.abs(ema - alpha).mean()
    assert err_flow < 0.3 * err_ema
    with pytest.raises(ValueError, match='flow smoothing weight'):
        eval_seg.FlowSmoother(0.0)
