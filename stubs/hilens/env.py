"""Environment variables that configure the simulator (read at call time, so tests can set them)."""
from __future__ import annotations

import os
from typing import Optional

SKILL_CONFIG = "HILENS_SKILL_CONFIG"  # JSON file returned by get_skill_config()
HDMI_OUTPUT = "HILENS_HDMI_OUTPUT"  # MP4 written by Display(HDMI)
RTMP_OUTPUT = "HILENS_RTMP_OUTPUT"  # MP4 written by Display(RTMP, url)
CAMERA = "HILENS_CAMERA"  # source of the built-in camera, VideoCapture()
UVC_SOURCE = "HILENS_UVC_SOURCE"  # source of the UVC camera, VideoCapture(0)
MODEL_DIR = "HILENS_MODEL_DIR"  # get_model_dir()
WORKSPACE = "HILENS_WORKSPACE"  # get_workspace_path()
VERIFY = "HILENS_VERIFY"  # expected init() check value
ORT_THREADS = "HILENS_ORT_THREADS"  # ONNX Runtime intra-op threads
DISPLAY_FPS = "HILENS_DISPLAY_FPS"  # frame rate stored in the display's MP4
DISPLAY_FOURCC = "HILENS_DISPLAY_FOURCC"  # codec of the display's MP4
OBS_DIR = "HILENS_OBS_DIR"  # local folder standing in for the OBS bucket
STREAM_OPEN_TIMEOUT = "HILENS_STREAM_OPEN_TIMEOUT"  # seconds a network source may take to open
STREAM_READ_TIMEOUT = "HILENS_STREAM_READ_TIMEOUT"  # seconds a network source may go without a frame

DEFAULT_HDMI_OUTPUT = "hdmi_output.mp4"
DEFAULT_RTMP_OUTPUT = "rtmp_output.mp4"
DEFAULT_CAMERA = os.path.join("test", "cameras0.mp4")
DEFAULT_ORT_THREADS = 1
DEFAULT_DISPLAY_FPS = 25.0
DEFAULT_DISPLAY_FOURCC = "mp4v"
DEFAULT_STREAM_OPEN_TIMEOUT = 10.0
DEFAULT_STREAM_READ_TIMEOUT = 5.0


def get(name: str) -> Optional[str]:
    """The variable's value, or None when unset or empty."""
    value = os.environ.get(name)
    return value if value else None


def get_int(name: str, default: int) -> int:
    value = get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError("%s=%r must be an integer" % (name, value)) from None


def get_float(name: str, default: float) -> float:
    value = get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError("%s=%r must be a number" % (name, value)) from None


def get_seconds(name: str, default: float) -> float:
    """A positive, finite number of seconds."""
    seconds = get_float(name, default)
    if not 0.0 < seconds < 1e6:
        raise ValueError("%s=%r must be a positive number of seconds" % (name, get(name)))
    return seconds
