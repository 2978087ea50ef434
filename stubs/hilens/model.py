"""hilens.Model: an .om model simulated by its ONNX twin on ONNX Runtime (CPU), with the static
AIPP of aipp.cfg applied to its input (创建模型实例.md, 模型推理.md)."""
from __future__ import annotations

import os
import threading
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from . import env, lifecycle
from .aipp import AippConfig, AippError, AippOp, find_aipp_file, load_aipp_file
from .errors import MODEL_PATH_ERROR, CreateError, ErrorCode
from .log import ERROR, INFO, sfw

_ONNX_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


def _nchw(shape: Sequence[int]) -> str:
    """The device prints every tensor as n, c, h, w (missing trailing dims are 1)."""
    dims = list(shape)[:4] + [1] * max(0, 4 - len(shape))
    return "n=%d c=%d h=%d w=%d" % tuple(dims)


class _Input:
    """One model input: what infer() must be given for it and how it becomes the ORT feed."""

    def __init__(self, name: str, shape: Sequence[int], dtype: type, aipp: Optional[AippOp]):
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtype
        self.aipp = aipp
        self.nbytes = aipp.input_bytes if aipp is not None else int(np.prod(self.shape)) * 4
        self._buffer = np.empty(aipp.output_shape, np.float32) if aipp is not None else None

    def feed(self, data: np.ndarray) -> np.ndarray:
        # The device copies bytes into the model's input buffer: an array of the right byte
        # size is reinterpreted, whatever its dtype or shape.
        if self.aipp is not None:
            tensor = self.aipp.apply(data, self._buffer)
        else:
            tensor = np.ascontiguousarray(data).reshape(-1).view(np.float32).reshape(self.shape)
        return tensor if self.dtype is np.float32 else tensor.astype(self.dtype)


class Model:
    """``Model("dir/x.om")`` runs ``dir/x.onnx``. Its AIPP config is ``x.aipp.cfg`` next to the
    model or in the parent of the model's folder, else ``aipp.cfg`` there (aipp.find_aipp_file);
    its blocks apply to the inputs they name."""

    def __init__(self, filepath: str):
        lifecycle.warn_if_uninitialised("hilens.Model")
        if not isinstance(filepath, str) or not filepath:
            sfw(ERROR, "Model: filepath must be a non-empty str, got %r (error 0x%x)"
                % (filepath, MODEL_PATH_ERROR))
            raise CreateError("Model: filepath must be a non-empty str, got %r" % (filepath,))
        self.om_path = filepath
        self.onnx_path = os.path.splitext(filepath)[0] + ".onnx"
        if not os.path.isfile(self.onnx_path):
            msg = ("Model: cannot load %s: the simulator runs %s, which does not exist (error 0x%x: "
                   "model path error)" % (filepath, self.onnx_path, MODEL_PATH_ERROR))
            sfw(ERROR, msg)
            raise CreateError(msg)
        self.session = self._open_session(self.onnx_path)
        self._lock = threading.Lock()  # the AIPP buffers are reused from call to call
        self.aipp_path = find_aipp_file(filepath)
        try:
            configs: List[AippConfig] = load_aipp_file(self.aipp_path) if self.aipp_path else []
        except (OSError, AippError) as exc:
            sfw(ERROR, "Model: bad AIPP config: %s" % exc)
            raise CreateError("Model %s: bad AIPP config: %s" % (filepath, exc)) from exc
        self.inputs = self._describe_inputs(configs)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._output_shapes = [o.shape for o in self.session.get_outputs()]
        with_aipp = ["input %d (%s %dx%d)" % (i, inp.aipp.cfg.input_format, inp.aipp.src_w, inp.aipp.src_h)
                     for i, inp in enumerate(self.inputs) if inp.aipp is not None]
        sfw(INFO, "Model %s -> %s (ONNX Runtime CPU, %d thread(s)); AIPP: %s" % (
            filepath, os.path.basename(self.onnx_path), self.threads,
            "%s on %s" % (self.aipp_path, ", ".join(with_aipp)) if with_aipp else
            "none (no %s.aipp.cfg or aipp.cfg found)" % os.path.splitext(os.path.basename(filepath))[0]))

    def _open_session(self, path: str):
        from .onnxrt import (
            import_onnxruntime,  # imported here: `import hilens` stays light for tools
        )

        ort = import_onnxruntime()  # telemetry off (see onnxrt.py)

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.threads = env.get_int(env.ORT_THREADS, env.DEFAULT_ORT_THREADS)
        options.intra_op_num_threads = max(0, self.threads)  # 0 = ONNX Runtime's default (all cores)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for bad files
            sfw(ERROR, "Model: ONNX Runtime cannot load %s: %s" % (path, str(exc).splitlines()[0]))
            raise CreateError("Model: ONNX Runtime cannot load %s: %s" % (path, exc)) from exc

    def _describe_inputs(self, configs: List[AippConfig]) -> List[_Input]:
        by_rank: Dict[int, AippConfig] = {c.related_input_rank: c for c in configs}
        ort_inputs = self.session.get_inputs()
        extra = [r for r in by_rank if r >= len(ort_inputs)]
        if extra:
            msg = "Model %s: aipp_op related_input_rank %s but the model has %d input(s)" % (
                self.om_path, extra, len(ort_inputs))
            sfw(ERROR, msg)
            raise CreateError(msg)
        inputs = []
        for rank, meta in enumerate(ort_inputs):
            if any(not isinstance(d, int) or d <= 0 for d in meta.shape):
                msg = ("Model %s: input %r has a dynamic shape %s; an .om has static shapes (export the "
                       "ONNX with fixed sizes)" % (self.om_path, meta.name, meta.shape))
                sfw(ERROR, msg)
                raise CreateError(msg)
            dtype = _ONNX_TO_NUMPY.get(meta.type)
            if dtype is None:
                msg = "Model %s: input %r is %s; the simulator feeds float tensors only" % (
                    self.om_path, meta.name, meta.type)
                sfw(ERROR, msg)
                raise CreateError(msg)
            op = None
            if rank in by_rank:
                try:
                    op = AippOp(by_rank[rank], meta.shape)
                except AippError as exc:
                    sfw(ERROR, "Model: %s" % exc)
                    raise CreateError("Model %s: %s" % (self.om_path, exc)) from exc
            inputs.append(_Input(meta.name, meta.shape, dtype, op))
        return inputs

    # ------------------------------------------------------------------------------ infer

    def _log_mismatch(self, given: str) -> None:
        sfw(ERROR, "Ascend 310: aiModelManager Process failed, please check your input. Model info:")
        for i, inp in enumerate(self.inputs):
            shape = inp.aipp.output_shape if inp.aipp is not None else inp.shape
            sfw(ERROR, "inputTensorVec[%d]: name=%s %s size=%d%s" % (
                i, inp.name, _nchw(shape), inp.nbytes,
                " (AIPP %s %dx%d uint8)" % (inp.aipp.cfg.input_format, inp.aipp.src_w, inp.aipp.src_h)
                if inp.aipp is not None else " (float32)"))
        for i, (name, shape) in enumerate(zip(self.output_names, self._output_shapes)):
            dims = [d if isinstance(d, int) else 1 for d in shape]
            sfw(ERROR, "outputTensorVec[%d]: name=%s %s size=%d" % (i, name, _nchw(dims), int(np.prod(dims)) * 4))
        sfw(ERROR, given)

    def infer(self, inputs: List[np.ndarray]) -> Union[List[np.ndarray], int]:
        """Run the model. ``inputs``: a list with one uint8 or float32 numpy array per model input
        (any shape; its byte size is what counts). Returns a list of flat float32 arrays, one per
        output, or the int HIAI_INFER_ERROR (17) when the number of inputs or a byte size is wrong.
        Raises ValueError when ``inputs`` is not a list of uint8/float32 arrays."""
        if not isinstance(inputs, list):
            raise ValueError("Model.infer: inputs must be a list of numpy uint8/float32 arrays, got %s"
                             % type(inputs).__name__)
        for i, a in enumerate(inputs):
            if not isinstance(a, np.ndarray) or a.dtype not in (np.uint8, np.float32):
                raise ValueError("Model.infer: inputs[%d] must be a numpy uint8 or float32 array, got %s"
                                 % (i, "%s array" % a.dtype if isinstance(a, np.ndarray) else type(a).__name__))
        if len(inputs) != len(self.inputs):
            self._log_mismatch("your input count: %d, the model has %d input(s)" % (len(inputs), len(self.inputs)))
            return int(ErrorCode.HIAI_INFER_ERROR)
        if any(a.nbytes != inp.nbytes for a, inp in zip(inputs, self.inputs)):
            self._log_mismatch("your input size:" + "".join(
                "%d: %d;" % (i, a.nbytes) for i, a in enumerate(inputs)))
            return int(ErrorCode.HIAI_INFER_ERROR)
        try:
            with self._lock:
                feed = {inp.name: inp.feed(a) for a, inp in zip(inputs, self.inputs)}
                outputs = self.session.run(self.output_names, feed)
        except Exception as exc:
            sfw(ERROR, "Model.infer: ONNX Runtime failed: %s" % str(exc).splitlines()[0])
            return int(ErrorCode.HIAI_INFER_ERROR)
        return [np.asarray(o, dtype=np.float32).reshape(-1) for o in outputs]
