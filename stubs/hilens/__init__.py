"""PC simulator of the Huawei HiLens Kit Python framework (``import hilens``).

Same names, arguments, return values and failure modes as the device API in the HiLens developer
guide; models run on ONNX Runtime (CPU) with the model's static AIPP emulated. See README.md for
what is emulated exactly, what is approximated, and the HILENS_* environment variables.
"""
from . import onnxrt  # noqa: F401  first: turns ONNX Runtime's telemetry off before anything imports it
from .cloud import (
                    download_from_obs,
                    send_msg,
                    upload_bufer,
                    upload_buffer_to_obs,
                    upload_file,
                    upload_file_to_obs,
)
from .display import H264_FILE, HDMI, RTMP, Display
from .errors import CreateError, ErrorCode
from .lifecycle import init, terminate
from .log import (
                    DEBUG,
                    ERROR,
                    FATAL,
                    INFO,
                    TRACE,
                    WARNING,
                    debug,
                    error,
                    fatal,
                    info,
                    set_log_level,
                    trace,
                    warn,
                    warning,
)
from .model import Model
from .preprocess import (
                    BGR2YUV_NV12,
                    BGR2YUV_NV21,
                    RGB2YUV_NV12,
                    RGB2YUV_NV21,
                    Preprocessor,
                    cvt_color,
)
from .resources import get_model_dir, get_skill_config, get_workspace_path, md5_of_file
from .video import VideoCapture

__version__ = "0.1.0"
SIMULATOR = True  # lets tools tell the simulator from the device module; skill code must not need it

__all__ = [
    "init", "terminate",
    "set_log_level", "trace", "debug", "info", "warning", "warn", "error", "fatal",
    "TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "FATAL",
    "get_model_dir", "get_workspace_path", "get_skill_config", "md5_of_file",
    "send_msg", "upload_file_to_obs", "upload_buffer_to_obs", "upload_file", "upload_bufer", "download_from_obs",
    "VideoCapture", "Display", "HDMI", "RTMP", "H264_FILE",
    "Model", "Preprocessor", "cvt_color", "RGB2YUV_NV12", "RGB2YUV_NV21", "BGR2YUV_NV12", "BGR2YUV_NV21",
    "CreateError", "ErrorCode",
]
