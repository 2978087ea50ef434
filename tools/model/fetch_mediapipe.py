"""Locate MediaPipe's .tflite files, fetching them once if needed.

The networks ship inside the `mediapipe==0.10.14` wheel on PyPI (Apache-2.0): the two selfie
segmenters and the person pipeline (pose detector, full-body pose landmark model). The wheel is
large (tens of MB), so it is downloaded once into the repo-relative cache `.cache/mediapipe/`
and only the .tflite members below are extracted next to it; the wheel is then deleted. Every
file is checked against its SHA-256 before use. `MEDIAPIPE_TFLITE_DIR` may point to a folder
that already holds the files (no download).

CLI: `python -m tools.model.fetch_mediapipe` prints the paths.
"""
import hashlib
import os
import pathlib
import subprocess
import sys
import zipfile

from tools import paths

MEDIAPIPE_VERSION = "0.10.14"
CACHE_DIR = paths.cache("mediapipe")
ENV_DIR = "MEDIAPIPE_TFLITE_DIR"

# variant -> member of the wheel; the file keeps its base name in the cache
MEMBERS = {
    "square": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "landscape": "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
    "pose_detector": "mediapipe/modules/pose_detection/pose_detection.tflite",
    "pose_landmark": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
}
FILE_NAMES = {variant: member.rsplit("/", 1)[1] for variant, member in MEMBERS.items()}
# SHA-256 of the files in the 0.10.14 wheel: the PyTorch ports and the reference fixtures were
# verified against exactly these bytes.
SHA256 = {
    "square": "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    "landscape": "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
    "pose_detector": "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    "pose_landmark": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
}


def _check_variant(variant):
    if variant not in FILE_NAMES:
        raise ValueError("unknown MediaPipe model %r: expected one of %s"
                         % (variant, sorted(FILE_NAMES)))


def _download_wheel(dest):
    """pip-download the cp311 manylinux wheel (no deps) into dest and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "mediapipe==" + MEDIAPIPE_VERSION,
           "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
           "--platform", "manylinux_2_17_x86_64", "-d", str(dest), "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("mediapipe-%s-*.whl" % MEDIAPIPE_VERSION))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError("could not download mediapipe==%s with pip (exit %d): %s"
                           % (MEDIAPIPE_VERSION, proc.returncode, proc.stderr.strip()[-500:]))
    return wheels[0]


def _extract(wheel, dest):
    with zipfile.ZipFile(wheel) as zf:
        for variant, member in MEMBERS.items():
            name = FILE_NAMES[variant]
            data = zf.read(member)
            tmp = dest / (name + ".part")
            tmp.write_bytes(data)
            tmp.replace(dest / name)


def _verified(path, variant):
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256[variant]:
        raise RuntimeError("%s has SHA-256 %s, expected %s (the file from mediapipe==%s)"
                           % (path, digest, SHA256[variant], MEDIAPIPE_VERSION))
    return path


def tflite_path(variant="landscape"):
    """Path of the .tflite file of `variant`: "landscape" (selfie 144x256), "square" (selfie
    256x256), "pose_detector" (224x224) or "pose_landmark" (full body, 256x256)."""
    _check_variant(variant)
    name = FILE_NAMES[variant]
    env = os.environ.get(ENV_DIR)
    if env:
        path = pathlib.Path(env) / name
        if not path.is_file():
            raise FileNotFoundError("%s=%s does not hold %s" % (ENV_DIR, env, name))
        return _verified(path, variant)
    path = CACHE_DIR / name
    if not path.is_file():
        wheel = _download_wheel(CACHE_DIR / "wheel")
        _extract(wheel, CACHE_DIR)
        wheel.unlink()
        wheel.parent.rmdir()
    return _verified(path, variant)


def main():
    for variant in FILE_NAMES:
        print("%-13s %s" % (variant, tflite_path(variant)))


if __name__ == "__main__":
    main()
