"""Read a .tflite flatbuffer into plain Python objects: tensors (with their constant data) and
operators (with decoded options), using the `tflite` package's generated flatbuffer classes.

Only what the MediaPipe imports need is decoded; any other operator keeps its raw option
table, so an unexpected graph fails loudly in the importer rather than silently here.

Sparse constants (TFLite's tensor `sparsity`, consumed by a DENSIFY op; the pose detector stores
its 1x1 kernels so) are expanded to dense arrays at read time by `densify`, which follows the
format's definition: dimensions visited in `traversal_order`, each DENSE (a plain index range)
or SPARSE_CSR (`array_segments` / `array_indices` per parent position), the stored values in
that visiting order. Block sparsity is not used by these files and is refused.
"""
import dataclasses
import pathlib
import sys

import numpy as np
import tflite

_DTYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64,
    tflite.TensorType.UINT8: np.uint8,
    tflite.TensorType.INT8: np.int8,
}
_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_PADDING = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
_ACTIVATION = {v: k for k, v in vars(tflite.ActivationFunctionType).items()
               if not k.startswith("_")}
# TfLitePadding as used in the C structs that custom ops store raw (0 is "unknown").
_C_PADDING = {1: "SAME", 2: "VALID"}


@dataclasses.dataclass
class Tensor:
    index: int
    name: str
    shape: tuple
    dtype: type
    data: "np.ndarray | None"  # constant contents (reshaped), None for activations
    sparse: bool = False  # data was stored sparse in the file (densified here)


@dataclasses.dataclass
class Operator:
    index: int
    type: str  # builtin name ("CONV_2D") or "CUSTOM:<code>"
    inputs: list  # Tensor, or None for an omitted optional input
    outputs: list
    options: dict


@dataclasses.dataclass
class Graph:
    tensors: list
    operators: list
    inputs: list
    outputs: list

    def producer(self, tensor):
        for op in self.operators:
            if any(t is tensor for t in op.outputs):
                return op
        return None

    def constant(self, tensor):
        """The float32 value of a constant tensor, looking through a DEQUANTIZE producer
        (MediaPipe stores weights as float16 and dequantizes them at load time)."""
        if tensor.data is not None:
            return tensor.data.astype(np.float32)
        op = self.producer(tensor)
        if op is not None and op.type == "DEQUANTIZE" and op.inputs[0].data is not None:
            src = op.inputs[0]
            if src.dtype is not np.float16:
                raise ValueError("DEQUANTIZE of %s (%s) is not a float16 cast; quantized "
                                 "weights are not supported" % (src.name, src.dtype.__name__))
            return src.data.astype(np.float32)
        if op is not None and op.type == "DEQUANTIZE" and self.producer(op.inputs[0]) is not None:
            dense = self.producer(op.inputs[0])
            src = dense.inputs[0]
            if dense.type == "DENSIFY" and src.sparse and src.dtype is np.float16:
                return src.data.astype(np.float32)
        raise ValueError("tensor %s is not a constant" % tensor.name)

    def compute_ops(self):
        """Operators that do the network's work (weight DENSIFY / DEQUANTIZE steps left out)."""
        return [op for op in self.operators if op.type not in ("DEQUANTIZE", "DENSIFY")]


def _init(table_cls, op):
    table = op.BuiltinOptions()
    opts = table_cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


def _options(op_type, op):
    if op_type == "CONV_2D":
        o = _init(tflite.Conv2DOptions, op)
        return {"stride": (o.StrideH(), o.StrideW()), "padding": _PADDING[o.Padding()],
                "activation": _ACTIVATION[o.FusedActivationFunction()],
                "dilation": (o.DilationHFactor(), o.DilationWFactor())}
    if op_type == "DEPTHWISE_CONV_2D":
        o = _init(tflite.DepthwiseConv2DOptions, op)
        return {"stride": (o.StrideH(), o.StrideW()), "padding": _PADDING[o.Padding()],
                "activation": _ACTIVATION[o.FusedActivationFunction()],
                "dilation": (o.DilationHFactor(), o.DilationWFactor()),
                "depth_multiplier": o.DepthMultiplier()}
    if op_type in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        o = _init(tflite.Pool2DOptions, op)
        return {"filter": (o.FilterHeight(), o.FilterWidth()),
                "stride": (o.StrideH(), o.StrideW()), "padding": _PADDING[o.Padding()],
                "activation": _ACTIVATION[o.FusedActivationFunction()]}
    if op_type == "DEPTH_TO_SPACE":
        return {"block_size": _init(tflite.DepthToSpaceOptions, op).BlockSize()}
    if op_type == "CONCATENATION":
        o = _init(tflite.ConcatenationOptions, op)
        return {"axis": o.Axis(), "activation": _ACTIVATION[o.FusedActivationFunction()]}
    if op_type == "RESIZE_BILINEAR":
        o = _init(tflite.ResizeBilinearOptions, op)
        return {"align_corners": bool(o.AlignCorners()),
                "half_pixel_centers": bool(o.HalfPixelCenters())}
    if op_type == "MEAN":
        o = _init(tflite.ReducerOptions, op)
        return {"keep_dims": bool(o.KeepDims())}
    if op_type in ("ADD", "MUL"):
        cls = tflite.AddOptions if op_type == "ADD" else tflite.MulOptions
        o = _init(cls, op)
        return {"activation": _ACTIVATION[o.FusedActivationFunction()]}
    if op_type == "CUSTOM:Convolution2DTransposeBias":
        # MediaPipe stores a raw TfLiteTransposeConvParams {padding, stride_w, stride_h}.
        raw = np.frombuffer(op.CustomOptionsAsNumpy().tobytes(), dtype="<i4")
        return {"padding": _C_PADDING.get(int(raw[0]), "UNKNOWN"),
                "stride": (int(raw[2]), int(raw[1]))}
    if op_type.startswith("CUSTOM:") and op.CustomOptionsLength():
        return {"raw": op.CustomOptionsAsNumpy().tobytes()}
    return {}


_INDEX_VECTORS = {  # SparseIndexVector union member -> its table class
    tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
    tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
    tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector,
}


def _index_vector(kind, table):
    if kind not in _INDEX_VECTORS:
        raise ValueError("sparse index vector of type %d" % kind)
    vec = _INDEX_VECTORS[kind]()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def densify(values, shape, sparsity):
    """Dense array of `shape` from the stored `values` of a tensor with TFLite `sparsity`."""
    if sparsity.BlockMapLength():
        raise ValueError("block-sparse tensors are not supported")
    order = sparsity.TraversalOrderAsNumpy()
    if sorted(order.tolist()) != list(range(len(shape))):
        raise ValueError("traversal order %s does not cover shape %s" % (order, shape))
    coords = np.zeros((1, 0), np.int64)  # one row per position reached, in traversal order
    pos = np.zeros(1, np.int64)          # where each row continues in the next dimension
    for d in range(sparsity.DimMetadataLength()):
        meta = sparsity.DimMetadata(d)
        if meta.Format() == tflite.DimensionType.DENSE:
            size = int(meta.DenseSize())
            child = np.arange(size)
            coords = np.concatenate([np.repeat(coords, size, 0),
                                     np.tile(child, len(pos))[:, None]], 1)
            pos = (pos[:, None] * size + child[None, :]).ravel()
        else:  # SPARSE_CSR: children of parent p are indices[segments[p]:segments[p + 1]]
            segments = _index_vector(meta.ArraySegmentsType(), meta.ArraySegments())
            indices = _index_vector(meta.ArrayIndicesType(), meta.ArrayIndices())
            starts, ends = segments[pos], segments[pos + 1]
            parent = np.repeat(np.arange(len(pos)), ends - starts)
            pos = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)] +
                                 [np.zeros(0, np.int64)])
            coords = np.concatenate([coords[parent], indices[pos][:, None]], 1)
    if len(pos) != len(values):
        raise ValueError("sparsity describes %d values, the buffer holds %d"
                         % (len(pos), len(values)))
    dense = np.zeros(shape, values.dtype)
    full = np.empty_like(coords)
    full[:, order] = coords
    dense[tuple(full.T)] = values[pos]
    return dense


def read_tflite(path):
    """Parse the first subgraph of a .tflite file."""
    buf = pathlib.Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError("%s: expected 1 subgraph, found %d" % (path, model.SubgraphsLength()))
    sub = model.Subgraphs(0)

    tensors = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if t.Type() not in _DTYPES:
            raise ValueError("%s: tensor %s has unsupported type %d"
                             % (path, t.Name().decode(), t.Type()))
        dtype = _DTYPES[t.Type()]
        data = None
        buffer = model.Buffers(t.Buffer())
        if buffer is not None and buffer.DataLength():
            raw = buffer.DataAsNumpy().tobytes()
            data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
            if t.Sparsity() is not None:
                data = densify(data, shape, t.Sparsity())
            else:
                data = data.reshape(shape)
        tensors.append(Tensor(i, t.Name().decode(), shape, dtype, data, t.Sparsity() is not None))

    operators = []
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        # Newer files keep the code in BuiltinCode, older ones in the deprecated int8 field.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.CUSTOM:
            op_type = "CUSTOM:" + code.CustomCode().decode()
        else:
            op_type = _OP_NAMES[builtin]
        ins = [tensors[j] if j >= 0 else None for j in op.InputsAsNumpy()]
        outs = [tensors[j] for j in op.OutputsAsNumpy()]
        operators.append(Operator(i, op_type, ins, outs, _options(op_type, op)))

    return Graph(tensors, operators,
                 [tensors[j] for j in sub.InputsAsNumpy()],
                 [tensors[j] for j in sub.OutputsAsNumpy()])


def describe(graph):
    """One line per compute operator: type, options, output shape (for reports and debugging)."""
    lines = []
    for op in graph.compute_ops():
        opts = {k: v for k, v in op.options.items() if k != "raw"}
        lines.append("%3d %-34s %-60s -> %s" % (op.index, op.type, opts,
                                               [t.shape for t in op.outputs]))
    return "\n".join(lines)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        g = read_tflite(p)
        print("# %s: input %s, output %s" % (p, [t.shape for t in g.inputs],
                                             [t.shape for t in g.outputs]))
        print(describe(g))
