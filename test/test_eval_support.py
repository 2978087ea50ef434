"""Helpers for the test_eval_* tests (no tests here): tiny model-contract ONNX files and a
stand-in for the shared data folder, made of red 'people' on blue.

The tiny model is alpha = sigmoid(k * (R - B) + g * prev_alpha): red people on a blue
background segment perfectly, k < 0 inverts it, and g > 0 makes the feedback sticky.
"""
import os
import shutil

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLUE = (200, 60, 30)        # BGR
RED = (30, 50, 210)


def tiny_model(path, w, h, feedback=False, k=12.0, g=0.0, aipp=False):
    """The tiny model at `path`; with aipp=True the project's aipp.cfg beside it (so the
    simulator loads it as PATH.om for the skill)."""
    import onnx
    from onnx import TensorProto, helper
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w])
    alpha = helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, h, w])
    weight = helper.make_tensor("wt", TensorProto.FLOAT, [1, 3, 1, 1], [k, 0.0, -k])
    nodes = [helper.make_node("Conv", ["image", "wt"], ["z"])]
    inputs = [image]
    inits = [weight]
    last = "z"
    if feedback:
        inputs.append(helper.make_tensor_value_info("prev_alpha", TensorProto.FLOAT,
                                                    [1, 1, h, w]))
        inits.append(helper.make_tensor("g", TensorProto.FLOAT, [], [g]))
        nodes += [helper.make_node("Mul", ["prev_alpha", "g"], ["gp"]),
                  helper.make_node("Add", ["z", "gp"], ["zp"])]
        last = "zp"
    nodes.append(helper.make_node("Sigmoid", [last], ["alpha"]))
    graph = helper.make_graph(nodes, "tiny", inputs, [alpha], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    if aipp:
        shutil.copy(os.path.join(ROOT, "aipp.cfg"), os.path.join(os.path.dirname(str(path)),
                                                                 "aipp.cfg"))
    return str(path)


def ellipse_mask(h, w, cy=None, cx=None, ry=None, rx=None):
    mask = np.zeros((h, w), np.uint8)
    cy = h // 2 + h // 6 if cy is None else cy
    cv2.ellipse(mask, (w // 2 if cx is None else cx, cy),
                (w // 4 if rx is None else rx, h // 2 if ry is None else ry), 0, 0, 360, 255, -1)
    return mask


def make_data(root, sizes=((90, 120), (61, 97), (100, 80), (47, 33)), ext=".jpg", body=False):
    """hsd-like folder: red ellipses (the 'person' masks) on blue, odd sizes included; each
    runs off the photo's bottom edge (a bust) unless body=True (a whole body)."""
    os.makedirs(os.path.join(root, "images"))
    os.makedirs(os.path.join(root, "masks"))
    for i, (h, w) in enumerate(sizes):
        mask = ellipse_mask(h, w, cy=h // 2, ry=h * 2 // 5) if body else ellipse_mask(h, w)
        img = np.full((h, w, 3), BLUE, np.uint8)
        img[mask > 0] = RED
        cv2.imwrite(os.path.join(root, "images", "%03d%s" % (i, ext)), img)
        cv2.imwrite(os.path.join(root, "masks", "%03d.png" % i), mask)
    return os.path.join(root, "images"), os.path.join(root, "masks")


def write_video(path, frames, fps=10.0):
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        out.write(f)
    out.release()


def make_shared_data(root, n_people=10, plate_frames=916, size=(256, 144)):
    """A stand-in for ../shared/data: hsd (busts cut by the photo's bottom edge), ccp (whole
    bodies), one DAVIS clip of a red ellipse crossing the frame, and
    videos/one-by-one-person-detection.mp4 of an empty blue room (long enough for the plate
    frames) that a red person crosses in frames 8-23."""
    root = str(root)
    make_data(os.path.join(root, "hsd"), [(120, 90 + 2 * i) for i in range(n_people)],
              ext=".png")
    make_data(os.path.join(root, "ccp"), [(160, 64 + 2 * i) for i in range(n_people)],
              ext=".png", body=True)
    w, h = size
    clip = os.path.join(root, "davis", "walker")
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(clip, sub))
    for t in range(20):
        mask = ellipse_mask(96, 160, cy=50, cx=30 + 5 * t, ry=35, rx=12)
        img = np.full((96, 160, 3), BLUE, np.uint8)
        img[mask > 0] = RED
        cv2.imwrite(os.path.join(clip, "images", "%05d.png" % t), img)
        cv2.imwrite(os.path.join(clip, "masks", "%05d.png" % t), mask)
    os.makedirs(os.path.join(root, "videos"))
    frames = []
    for t in range(plate_frames):
        img = np.full((h, w, 3), BLUE, np.uint8)
        img[::9] = (180, 80, 60)
        if 8 <= t < 24:
            img[ellipse_mask(h, w, cy=h // 2, cx=20 + 14 * (t - 8), ry=h // 3, rx=14) > 0] = RED
        frames.append(img)
    write_video(os.path.join(root, "videos", "one-by-one-person-detection.mp4"), frames)
    return root
