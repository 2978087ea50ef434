"""Regenerate the project's own sample material from matplotlib's grace_hopper.jpg.

    .venv/bin/python -m tools.package.make_sample      # test/cameras0.mp4 + data/background.jpg
    .venv/bin/python -m tools.package.make_sample --size 1280x720 --video /tmp/hd.mp4 \
        --no-background
    .venv/bin/python -m tools.package.make_sample --picture docs/result.png  # needs model/, hilens

test/cameras0.mp4: a slow, smooth pan and zoom over the portrait (a handheld camera on a
person), 640x360, 25 fps, 6 s, mp4v. The frames are a pure function of the arguments.
data/background.jpg: a generated backdrop (soft gradient with out-of-focus light discs),
1280x720, no third-party picture in it.
docs/result.png (--picture): one frame of the skill's side-by-side view (input | result) on a
1280x720 version of the sample, run through main.py and the hilens simulator, letterbox
cropped.
"""
import argparse
import math
import os
import sys

import cv2
import numpy as np

from tools import paths

ROOT = str(paths.REPO)


def portrait():
    import matplotlib.cbook as cbook
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit("cannot read matplotlib's grace_hopper.jpg at %s" % path)
    return img


def stage(img, w, h):
    """The portrait widened to the video's aspect: the sides become a plain studio wall in
    the colour of the photo's own backdrop, blended into the photo over a soft seam."""
    ih, iw = img.shape[:2]
    cw = int(math.ceil(ih * w / float(h)))
    pad = max(0, (cw - iw + 1) // 2)
    wall = img[:int(0.5 * ih), -24:].reshape(-1, 3).astype(np.float32).mean(axis=0)
    shade = np.linspace(1.05, 0.65, ih, dtype=np.float32)[:, None, None]
    wide = np.clip(np.broadcast_to(wall * shade, (ih, iw + 2 * pad, 3)), 0, 255)
    x = np.arange(wide.shape[1], dtype=np.float32)
    dist = np.maximum(pad - x, x - (pad + iw - 1))  # > 0 outside the photo
    k = np.clip(dist / 60.0 + 0.5, 0.0, 1.0)[None, :, None]
    photo = cv2.copyMakeBorder(img, 0, 0, pad, pad, cv2.BORDER_REPLICATE).astype(np.float32)
    return (photo * (1 - k) + wide * k).astype(np.uint8)


def camera_frame(img, t, w, h):
    """The view at time t in [0, 1): a window of the video's aspect that zooms 1x..1.35x
    into the staged portrait and drifts, like a handheld camera."""
    ih, iw = img.shape[:2]
    zoom = 1.0 + 0.35 * 0.5 * (1.0 - math.cos(2 * math.pi * t))
    ch = ih / zoom
    cw = ch * w / float(h)
    cx = iw / 2.0 + 0.4 * (iw - cw) * math.sin(2 * math.pi * t)
    cy = ih / 2.0 - 0.5 * (ih - ch) * math.sin(math.pi * t)
    s = w / cw
    m = np.array([[s, 0.0, w / 2.0 - s * cx], [0.0, s, h / 2.0 - s * cy]], np.float64)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def make_video(path, w, h, fps, seconds):
    img = stage(portrait(), w, h)
    n = int(round(fps * seconds))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise SystemExit("cannot write %s with the mp4v codec" % path)
    for i in range(n):
        writer.write(camera_frame(img, i / float(n), w, h))
    writer.release()
    return n


def make_background(path, w=1280, h=720, seed=7):
    """Dusk-coloured gradient with blurred light discs (bokeh), all generated."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top = np.array([92, 52, 38], np.float32)      # BGR: deep blue
    bottom = np.array([70, 120, 190], np.float32)  # warm orange
    k = (yy / (h - 1))[..., None]
    img = top * (1 - k) + bottom * k
    img += 18.0 * np.sin(xx / w * math.pi)[..., None]
    glow = np.zeros((h, w, 3), np.float32)
    for _ in range(40):
        x, y = rng.randint(0, w), rng.randint(0, h)
        r = int(rng.randint(12, 60))
        color = np.array([rng.randint(120, 255), rng.randint(140, 255),
                          rng.randint(160, 255)], np.float32)
        cv2.circle(glow, (int(x), int(y)), r, color.tolist() + [0], -1, cv2.LINE_AA)
    glow = cv2.GaussianBlur(glow, (0, 0), 9)
    img = np.clip(img + 0.35 * glow, 0, 255).astype(np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 85])


def make_picture(path, frame_index=100, width=960):
    """Run the skill (side_by_side view) on a 1280x720 sample and keep one frame."""
    import shutil
    import tempfile

    import main as skill
    tmp = tempfile.mkdtemp()
    try:
        clip = os.path.join(tmp, "hd.mp4")
        make_video(clip, 1280, 720, 25.0, 6.0)
        out = os.path.join(tmp, "sbs.mp4")
        rc = skill.run(ROOT, ["--input", clip, "--output", out, "--view", "side_by_side",
                              "--max-frames", str(frame_index + 1), "--progress", "false"])
        if rc != 0:
            raise SystemExit("the skill failed (exit %d); is model/matting.onnx there?" % rc)
        cap = cv2.VideoCapture(out)
        frame = None
        for _ in range(frame_index + 1):
            ok, f = cap.read()
            if ok:
                frame = f
        cap.release()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = np.where(frame.max(axis=(1, 2)) > 24)[0]  # drop the black letterbox
    band = frame[rows[0]:rows[-1] + 1]
    scale = width / float(band.shape[1])
    band = cv2.resize(band, (width, int(round(band.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    cv2.imwrite(path, band, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=os.path.join(ROOT, "test", "cameras0.mp4"))
    p.add_argument("--size", default="640x360", help="WxH, even numbers")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--background", default=os.path.join(ROOT, "data", "background.jpg"))
    p.add_argument("--no-background", action="store_true", help="only write the video")
    p.add_argument("--picture", help="only write the README picture (e.g. docs/result.png)")
    a = p.parse_args(argv)
    if a.picture:
        make_picture(a.picture)
        print("wrote %s: %d bytes" % (a.picture, os.path.getsize(a.picture)))
        return 0
    try:
        w, h = [int(v) for v in a.size.lower().split("x")]
    except ValueError:
        raise SystemExit("--size must be WxH, got %r" % a.size)
    if w % 2 or h % 2 or w < 64 or h < 64:
        raise SystemExit("--size %dx%d: width and height must be even and >= 64" % (w, h))
    n = make_video(a.video, w, h, a.fps, a.seconds)
    print("wrote %s: %d frames %dx%d @ %g fps, %d bytes"
          % (a.video, n, w, h, a.fps, os.path.getsize(a.video)))
    if not a.no_background:
        make_background(a.background)
        print("wrote %s: %d bytes" % (a.background, os.path.getsize(a.background)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
