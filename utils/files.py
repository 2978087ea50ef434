"""The file types the skill reads, defined once for the input, the background and the config.

`.264` and `.h264` are both names for a raw H.264 stream (what an H264_FILE display writes),
so both are videos wherever a video is read: as the input and as a background.
"""
import os

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".h264", ".264")


def extension(path: str) -> str:
    """The lower-case extension with its dot: 'a/B.MP4' -> '.mp4'."""
    return os.path.splitext(path)[1].lower()


def is_image(path: str) -> bool:
    return extension(path) in IMAGE_EXTS


def is_video(path: str) -> bool:
    return extension(path) in VIDEO_EXTS


def names_a_file(spec: str) -> bool:
    """Whether an `input` value is meant as a file rather than an IPC camera name: it has a
    folder part, a video extension or any other extension of 2-4 letters (`.gif`, `.webm`).
    An IPC camera name such as `door` or `192.168.1.10` has neither; a file that exists is
    a file whatever its name (utils.camera.open_source)."""
    ext = extension(spec)[1:]
    return is_video(spec) or (2 <= len(ext) <= 4 and ext.isalpha()) or os.sep in spec \
        or "/" in spec
