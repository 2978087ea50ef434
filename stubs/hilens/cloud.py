"""Messages and OBS transfers (发送消息.md, 上传文件.md, 上传缓冲区数据.md, 从OBS下载文件.md).

Nothing leaves the machine: every call is logged, its arguments are checked as the guide states,
and a local folder stands in for the device's OBS bucket (HILENS_OBS_DIR, default
``<workspace>/obs/``), so an uploaded file can be found and downloaded again.
"""
from __future__ import annotations

import os
import shutil
from typing import Union
from urllib.parse import unquote, urlparse

from . import env
from .errors import ErrorCode
from .log import ERROR, INFO, sfw
from .resources import get_workspace_path

MAX_DOWNLOAD_DIR_CHARS = 256
_MODES = ("write", "append")


def obs_root() -> str:
    """The local folder used as the OBS bucket."""
    return env.get(env.OBS_DIR) or os.path.join(get_workspace_path(), "obs")


def send_msg(subject: str, message: str) -> int:
    """Log the message that the device would send by mail/SMS; 0, or INVALID_PARAM for an empty
    subject or non-string arguments."""
    if not isinstance(subject, str) or not subject or not isinstance(message, str):
        sfw(ERROR, "send_msg: subject must be a non-empty str and message a str, got %r, %r"
            % (subject, type(message).__name__))
        return int(ErrorCode.INVALID_PARAM)
    sfw(INFO, "send_msg: [%s] %s" % (subject, message))
    return 0


def _check_key(key: object) -> str:
    """'' when ``key`` is a valid OBS object key, else why not."""
    if not isinstance(key, str) or not key:
        return "key must be a non-empty str"
    if key.startswith("/") or "//" in key:
        return "key %r must be a relative path without '//'" % key
    for part in key.split("/")[:-1]:
        if part.startswith(".") or part.endswith("."):
            return "folder %r in key %r must not start or end with '.'" % (part, key)
    return ""


def _store(key: str, data: bytes, mode: str, call: str) -> int:
    target = os.path.join(obs_root(), *key.split("/"))
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "ab" if mode == "append" else "wb") as f:
            f.write(data)
    except OSError as exc:
        sfw(ERROR, "%s: cannot write %s: %s" % (call, target, exc))
        return int(ErrorCode.WRITE_ERROR)
    sfw(INFO, "%s: %d bytes -> obs://%s (%s, local %s)" % (call, len(data), key, mode, target))
    return 0


def upload_file_to_obs(key: str, filepath: str, mode: str) -> int:
    """Upload a file to the (local) bucket under ``key``; mode 'write' or 'append'."""
    problem = _check_key(key)
    if problem or mode not in _MODES:
        sfw(ERROR, "upload_file_to_obs: %s" % (problem or "mode %r must be 'write' or 'append'" % (mode,)))
        return int(ErrorCode.INVALID_PARAM)
    try:
        with open(filepath, "rb") as f:
            data = f.read()
    except (OSError, TypeError) as exc:
        sfw(ERROR, "upload_file_to_obs: cannot read filepath %r: %s" % (filepath, exc))
        return int(ErrorCode.ACCESS_FILE_FAILED)
    return _store(key, data, mode, "upload_file_to_obs")


def upload_buffer_to_obs(key: str, buffer: Union[str, bytes], mode: str) -> int:
    """Upload a str or bytes-like buffer (e.g. cv2.imencode output) under ``key``."""
    problem = _check_key(key)
    if problem or mode not in _MODES:
        sfw(ERROR, "upload_buffer_to_obs: %s" % (problem or "mode %r must be 'write' or 'append'" % (mode,)))
        return int(ErrorCode.INVALID_PARAM)
    if isinstance(buffer, str):
        data = buffer.encode("utf-8")
    else:
        try:
            data = memoryview(buffer).tobytes()
        except TypeError:
            sfw(ERROR, "upload_buffer_to_obs: buffer must be str or bytes, got %s" % type(buffer).__name__)
            return int(ErrorCode.INVALID_BUF)
    return _store(key, data, mode, "upload_buffer_to_obs")


# Names used before firmware 1.0.6, still in the guide.
upload_file = upload_file_to_obs
upload_bufer = upload_buffer_to_obs


def download_from_obs(url: str, download_to: str) -> int:
    """Copy an object into the folder ``download_to``. The object is looked up by the URL's path
    in the local bucket (``https://bucket.obs.region.myhuaweicloud.com/a/b.zip`` -> ``a/b.zip``);
    ``file://`` URLs and plain local paths are copied directly."""
    if not isinstance(url, str) or not url or not isinstance(download_to, str) or not download_to:
        sfw(ERROR, "download_from_obs: url and download_to must be non-empty str")
        return int(ErrorCode.INVALID_PARAM)
    if len(download_to) > MAX_DOWNLOAD_DIR_CHARS:
        sfw(ERROR, "download_from_obs: download_to is %d characters, at most %d"
            % (len(download_to), MAX_DOWNLOAD_DIR_CHARS))
        return int(ErrorCode.INVALID_PARAM)
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https", "obs"):
        # An object key names an object in the bucket: '.' and '..' segments (also %-encoded)
        # would make the local stand-in read files outside it.
        parts = unquote(parsed.path).replace("\\", "/").strip("/").split("/")
        if any(p in (".", "..") for p in parts):
            sfw(ERROR, "download_from_obs: %s: the object key must not contain '.' or '..' segments "
                       "(it would leave the bucket)" % url)
            return int(ErrorCode.INVALID_PARAM)
        root = obs_root()
        source = os.path.join(root, *parts)
        real_root = os.path.realpath(root)
        if os.path.commonpath([real_root, os.path.realpath(source)]) != real_root:
            sfw(ERROR, "download_from_obs: %s resolves to %s, outside the bucket folder %s"
                % (url, os.path.realpath(source), real_root))
            return int(ErrorCode.INVALID_PARAM)
    elif parsed.scheme == "file":
        source = unquote(parsed.path)
    else:
        source = url
    if not os.path.isfile(source):
        sfw(ERROR, "download_from_obs: %s not found (looked at %s)" % (url, source))
        return int(ErrorCode.NOT_FOUND)
    try:
        os.makedirs(download_to, exist_ok=True)
    except OSError as exc:
        sfw(ERROR, "download_from_obs: cannot create download_to %s: %s" % (download_to, exc))
        return int(ErrorCode.CREATE_DIR_FAILED)
    try:
        shutil.copy(source, os.path.join(download_to, os.path.basename(source)))
    except OSError as exc:
        sfw(ERROR, "download_from_obs: cannot write into %s: %s" % (download_to, exc))
        return int(ErrorCode.WRITE_ERROR)
    sfw(INFO, "download_from_obs: %s -> %s" % (url, download_to))
    return 0
