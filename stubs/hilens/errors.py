"""Exceptions and the integer error codes the HiLens Framework returns.

The developer guide (错误码.md) lists the codes as an enum but gives no numbers. Its model
example (示例-模型管理.md) shows a failed ``infer`` returning ``17``, which is the position of
``HIAI_INFER_ERROR`` in that list when counting from 1 (0 being success). We number the whole
list that way, so ``Model.infer`` returns the same 17 the device prints.
"""
from __future__ import annotations

import enum


class CreateError(Exception):
    """Raised when a VideoCapture, Display, Model or Preprocessor cannot be created."""


class ErrorCode(enum.IntEnum):
    """Return codes; 0 means success. Functions return plain ``int`` values of these."""

    SUCCESS = 0
    UNKNOWN_ERROR = 1
    INIT_CURL_ERROR = 2
    CREATE_DIR_FAILED = 3
    OPENFILE_FAILED = 4
    RENAME_FAILED = 5
    ACCESS_FILE_FAILED = 6
    INVALID_BUF = 7
    COULDNT_RESOLVE_HOST = 8
    WRITE_ERROR = 9
    TIMEOUT = 10
    AUTH_FAILED = 11
    NOT_FOUND = 12
    SERVER_ERROR = 13
    OBJECT_CONFLICT = 14
    APPEND_FAILED = 15
    HIAI_SEND_DATA_FAILED = 16
    HIAI_INFER_ERROR = 17
    INVALID_SRC_SIZE = 18
    INVALID_DST_SIZE = 19
    MPP_PROCESS_FAILED = 20
    WEBSOCKET_ERROR = 21
    CONFIG_FILE_ERROR = 22
    INVALID_PARAM = 23


# The device logs this code when Model() is given a bad path (创建模型实例.md).
MODEL_PATH_ERROR = 0x1013011
