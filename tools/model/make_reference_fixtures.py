"""Record MediaPipe's own selfie-segmentation output as reference data for the PyTorch port.

Runs in the separate mediapipe environment (mediapipe 0.10.14 pins protobuf < 5, the main
venv has onnx, which needs protobuf >= 6), from the repository root:

    python3.11 -m venv .venv-mp && .venv-mp/bin/pip install mediapipe==0.10.14 matplotlib
    .venv-mp/bin/python -m tools.model.make_reference_fixtures
        -> test/fixtures/model/<variant>_<name>.png (input, RGB) + <variant>_<name>_mask.npz
           (MediaPipe's mask, float16, key "mask"), from test images made out of matplotlib's
           grace_hopper.jpg; test/test_model_reference.py compares the port against them.
    .venv-mp/bin/python -m tools.model.make_reference_fixtures --photos ../shared/data/hsd/images
        -> .cache/mediapipe/reference_photos.npz (not committed), then in the main venv
           .venv/bin/python -m tools.model.mediapipe_import \
               --check .cache/mediapipe/reference_photos.npz

Every test image is rendered at exactly the model input size, so MediaPipe's
ImageToTensorCalculator only converts to [0, 1] (no resampling) and its mask is returned at
that same size. Each image gets a fresh SelfieSegmentation instance, so no state carries over.
This file imports neither torch nor onnx: only numpy, OpenCV, mediapipe and tools.paths
(standard library).
"""
import argparse
import pathlib

import cv2
import numpy as np

from tools import paths

FIXTURE_DIR = paths.REPO / "test" / "fixtures" / "model"
# variant -> (model_selection of mediapipe's SelfieSegmentation, (H, W))
VARIANTS = {"landscape": (1, (144, 256)), "square": (0, (256, 256))}
# Which test images each variant's fixtures keep (the square crop is close to the stretched
# photo, so it is left out to keep the fixtures small).
FIXTURE_IMAGES = {"landscape": ("stretch", "crop_flip", "small_offset"),
                  "square": ("stretch", "small_offset")}


def grace_hopper():
    """matplotlib's sample photo as RGB uint8 (600 x 512)."""
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise FileNotFoundError("cannot read matplotlib sample %s" % path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _gradient(h, w):
    """A smooth synthetic backdrop (no person in it)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([60 + 150 * x / w, 90 + 100 * y / h, 200 - 120 * x / w], axis=-1)
    return rgb.clip(0, 255).astype(np.uint8)


def test_images(photo, size):
    """name -> RGB uint8 image of exactly `size` (H, W), made from one portrait photo."""
    h, w = size
    ph, pw = photo.shape[:2]
    images = {"stretch": cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)}

    # the largest crop of the photo's aspect-correct top part, mirrored
    crop_h = min(ph, int(round(pw * h / w)))
    crop = photo[:crop_h, :] if crop_h < ph else photo
    images["crop_flip"] = cv2.resize(crop[:, ::-1], (w, h), interpolation=cv2.INTER_AREA)

    # the person at 70% of the frame height, off-centre on a plain gradient
    sh = int(round(0.7 * h))
    sw = int(round(sh * pw / ph))
    small = cv2.resize(photo, (sw, sh), interpolation=cv2.INTER_AREA)
    canvas = _gradient(h, w)
    x0 = w - sw - w // 10
    canvas[h - sh:, x0:x0 + sw] = small
    images["small_offset"] = canvas
    return images


def mediapipe_mask(image, model_selection):
    """MediaPipe's segmentation_mask (float32, same size as image) from a fresh solution."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(
            model_selection=model_selection) as seg:
        mask = seg.process(np.ascontiguousarray(image)).segmentation_mask
    if mask is None or mask.shape != image.shape[:2]:
        raise RuntimeError("mediapipe returned no mask of size %s" % (image.shape[:2],))
    return np.asarray(mask, dtype=np.float32)


def write_fixtures(out_dir=FIXTURE_DIR):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = grace_hopper()
    for variant, (selection, size) in VARIANTS.items():
        images = test_images(photo, size)
        for name in FIXTURE_IMAGES[variant]:
            image = images[name]
            stem = out_dir / ("%s_%s" % (variant, name))
            cv2.imwrite(str(stem) + ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_PNG_COMPRESSION, 9])
            mask = mediapipe_mask(image, selection)
            # float16 (step <= 4.9e-4 near 1) compressed: masks are mostly exact 0 and 1
            np.savez_compressed(str(stem) + "_mask.npz", mask=mask.astype(np.float16))
            print("%s: mask mean %.3f, range [%.3f, %.3f]"
                  % (stem.relative_to(paths.REPO), mask.mean(), mask.min(), mask.max()))


def write_photo_reference(photo_dir, out_file):
    """MediaPipe masks of every .jpg/.png in photo_dir, resized (aspect not kept) to each
    variant's input size; stored with the exact uint8 inputs so a comparison needs nothing else."""
    photos = sorted(p for p in pathlib.Path(photo_dir).iterdir()
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise FileNotFoundError("no .jpg/.png photos in %s" % photo_dir)
    arrays = {"names": np.array([p.name for p in photos])}
    for variant, (selection, (h, w)) in VARIANTS.items():
        images, masks = [], []
        for p in photos:
            bgr = cv2.imread(str(p))
            if bgr is None:
                raise ValueError("cannot read image %s" % p)
            rgb = cv2.cvtColor(cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA),
                               cv2.COLOR_BGR2RGB)
            images.append(rgb)
            masks.append(mediapipe_mask(rgb, selection))
        arrays["images_" + variant] = np.stack(images)
        arrays["masks_" + variant] = np.stack(masks)
        print("%s: %d photos" % (variant, len(photos)))
    out_file = pathlib.Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out_file, **arrays)
    print("wrote", out_file)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Record MediaPipe selfie-segmentation "
                                                 "reference masks (run with .venv-mp).")
    parser.add_argument("--out-dir", default=str(FIXTURE_DIR),
                        help="fixture folder (default: test/fixtures/model)")
    parser.add_argument("--photos", help="folder of real photos: write a reference .npz "
                                         "instead of the fixtures")
    parser.add_argument("--out", default=str(paths.cache("mediapipe", "reference_photos.npz")))
    args = parser.parse_args(argv)
    if args.photos:
        write_photo_reference(args.photos, args.out)
    else:
        write_fixtures(args.out_dir)


if __name__ == "__main__":
    main()
