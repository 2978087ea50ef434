"""Resource manager: model/workspace paths, skill configuration, md5 (资源管理模块.md)."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Optional

from . import env
from .log import DEBUG, ERROR, WARNING, sfw


def _dir_with_slash(path: str) -> str:
    path = os.path.abspath(path)
    return path if path.endswith("/") else path + "/"


def get_model_dir() -> str:
    """Directory of the skill's models, ending in '/': HILENS_MODEL_DIR, else the current
    directory (the device falls back to the code directory)."""
    return _dir_with_slash(env.get(env.MODEL_DIR) or os.getcwd())


def get_workspace_path() -> str:
    """Writable workspace, ending in '/': HILENS_WORKSPACE (created if missing), else the
    current directory. '' when it cannot be created, as the device returns '' on failure."""
    path = env.get(env.WORKSPACE) or os.getcwd()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        sfw(ERROR, "get_workspace_path: cannot create %s=%s: %s" % (env.WORKSPACE, path, exc))
        return ""
    return _dir_with_slash(path)


def get_skill_config() -> Optional[Dict[str, Any]]:
    """The runtime configuration, read as ``cfg[name]["value"]``, from the JSON file named by
    HILENS_SKILL_CONFIG. None (with a log line) when unset, missing, unreadable or not an object."""
    path = env.get(env.SKILL_CONFIG)
    if path is None:
        sfw(DEBUG, "get_skill_config: %s is not set, no skill configuration" % env.SKILL_CONFIG)
        return None
    try:
        with open(path, "r", encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        sfw(ERROR, "get_skill_config: cannot read %s=%s: %s" % (env.SKILL_CONFIG, path, exc))
        return None
    if not isinstance(config, dict):
        sfw(ERROR, 'get_skill_config: %s must hold a JSON object {name: {"value": ...}}, got %s'
            % (path, type(config).__name__))
        return None
    for name, item in config.items():
        if not isinstance(item, dict) or "value" not in item:
            sfw(WARNING, 'get_skill_config: item %r has no "value" (the console stores every item '
                         'as {"value": ...})' % name)
    return config


def md5_of_file(file: str) -> str:
    """Hex md5 of a file; '' (with a log line) when it cannot be read."""
    digest = hashlib.md5()
    try:
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except (OSError, TypeError) as exc:
        sfw(ERROR, "md5_of_file: cannot read %r: %s" % (file, exc))
        return ""
    return digest.hexdigest()
