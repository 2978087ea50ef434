"""Check an ONNX model before `atc --framework=5 --soc_version=Ascend310` sees it.

What is checked, and where the rule comes from:
- every node is in the default ONNX domain and its op is in ATC's ONNX operator list
  ("支持ONNX算子清单", CANN 5.0.4 operator reference on hiascend.com; the names below are copied
  from that list);
- opset of the default domain within 9..11 (ATC supports v9-v13; the model contract in
  DESIGN.md caps it at 11);
- static shapes: every graph input/output and every inferred intermediate tensor has fixed,
  positive dimensions (an .om has static shapes);
- per-op limits of the list for the ops this project uses: Resize only in "nearest"/"linear"
  mode with constant scales/sizes ("需要修改模型将输入scales或sizes由placeholder改为const类型");
  Conv/ConvTranspose 2-D with constant weights; Pad/Clip/Slice bounds constant;
- the model contract: input `image` 1x3xHxW, optionally `prev_alpha` 1x1xHxW, output `alpha`
  1x1xHxW, all float32; the person models (recognised by their output names) have fixed
  contracts of their own, PERSON_CONTRACTS (tools/model/export_pose_onnx.py documents them).

CLI: python -m tools.model.check_onnx_ascend model/matting.onnx [model/selfie_square.onnx ...]
prints the op census per file and exits 1 with one line per offending node or tensor.
"""
import argparse
import sys
from collections import Counter

import onnx

OPSET_RANGE = (9, 11)

# ATC's ONNX operator list (CANN 5.0.4, "支持ONNX算子清单"), as published.
ATC_ONNX_OPS = frozenset("""
Abs Acos Acosh AdaptiveAvgPool2D AdaptiveMaxPool2D Add Addcmul AffineGrid And Argmax Argmin
AscendRequantS16 AscendRequant AscendQuant AscendDequantS16 AscendDequant AscendAntiQuant Asin
Asinh Atan Atanh AveragePool BatchNormalization BatchMatMul BatchMultiClassNMS BitShift Cast
Ceil Celu Clip Concat ConvTranspose Cumsum Conv Compress Constant ConstantOfShape Cos Cosh
DeformableConv2D Det DepthToSpace Div Dropout Elu EmbeddingBag Equal Erf Exp Expand EyeLike
Flatten Floor Gather GatherND GatherElements Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
Greater GreaterOrEqual HardSigmoid hardmax HardSwish Identity If InstanceNormalization Less
LeakyRelu LessOrEqual Log LogSoftMax LpNormalization LpPool LRN LSTM MatMul Max MaxPool
MaxRoiPool MaxUnpool Mean MeanVarianceNormalization Min Mod Mul Multinomial Neg
NonMaxSuppression NonZero Not OneHot Or RandomNormalLike RandomUniformLike RandomUniform Range
Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMin ReduceMean ReduceProd
ReduceSumSquare Resize Relu ReduceSum ReduceMax Reshape ReverseSequence RoiExtractor RoiAlign
Round PRelu Scatter ScatterElements ScatterND Shrink Selu Shape Sigmoid Slice Softmax Softsign
Softplus SpaceToDepth Split Sqrt Squeeze Sub Sign Sin Sinh Size Sum Tanh TfIdfVectorizer Tile
ThresholdedRelu TopK Transpose Pad Pow Unsqueeze Where Xor
""".split())
# The list spells a few ops differently from ONNX; these are the same operators.
SPELLINGS = {"ArgMax": "Argmax", "ArgMin": "Argmin", "CumSum": "Cumsum", "Hardmax": "hardmax",
             "LogSoftmax": "LogSoftMax"}

# inputs (by position) that ATC needs as constants, per op
CONST_INPUTS = {"Resize": (1, 2, 3), "Conv": (1, 2), "ConvTranspose": (1, 2), "Pad": (1, 2),
                "Clip": (1, 2), "Slice": (1, 2, 3, 4), "Reshape": (1,), "Upsample": (1,)}


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _dims(value_info):
    t = value_info.type.tensor_type
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim], t.elem_type


def check_model(model, expect_prev_alpha=None):
    """(op census, problems) for an onnx.ModelProto. expect_prev_alpha: None accepts both
    contract forms, True/False demands one."""
    problems = []
    graph = model.graph
    versions = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    opset = versions.get("ai.onnx")
    if opset is None or not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        problems.append("opset %s: ATC path needs %d..%d" % (opset, *OPSET_RANGE))
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as exc:  # onnx raises its own InferenceError types
        problems.append("shape inference failed: %s" % str(exc).splitlines()[0])
        inferred = model
    constants = {i.name for i in graph.initializer}
    constants |= {n.output[0] for n in graph.node if n.op_type == "Constant"}
    census = Counter()
    for index, node in enumerate(graph.node):
        label = "node %d %s (%s)" % (index, node.name or node.output[0], node.op_type)
        census[node.op_type] += 1
        if node.domain not in ("", "ai.onnx"):
            problems.append("%s: custom domain %r" % (label, node.domain))
            continue
        if SPELLINGS.get(node.op_type, node.op_type) not in ATC_ONNX_OPS:
            problems.append("%s: not in ATC's ONNX operator list" % label)
        for pos in CONST_INPUTS.get(node.op_type, ()):
            if pos < len(node.input) and node.input[pos] and node.input[pos] not in constants:
                problems.append("%s: input %d (%s) must be a constant" % (label, pos,
                                                                          node.input[pos]))
        if node.op_type == "Resize":
            mode = _attr(node, "mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if mode not in ("nearest", "linear"):
                problems.append("%s: mode %r (ATC: nearest or linear)" % (label, mode))
        if node.op_type in ("Conv", "ConvTranspose"):
            weights = {i.name: i for i in graph.initializer}.get(node.input[1])
            if weights is not None and len(weights.dims) != 4:
                problems.append("%s: only 2-D convolutions (4-D weights), got %d-D"
                                % (label, len(weights.dims)))
    for value in list(inferred.graph.input) + list(inferred.graph.output) + \
            list(inferred.graph.value_info):
        dims, _ = _dims(value)
        if not dims and value.name in constants:
            continue
        if any(d is None or d <= 0 for d in dims):
            problems.append("tensor %s: shape %s is not static" % (value.name, dims))
    problems += _contract(inferred, expect_prev_alpha)
    return census, problems


# output names -> (model, {tensor: shape}) of the person pipeline's networks
PERSON_CONTRACTS = {
    ("boxes", "logits"): ("person detector", {
        "image": [1, 3, 224, 224], "boxes": [1, 2254, 12], "logits": [1, 2254, 1]}),
    ("alpha", "landmarks", "presence", "aux_heatmap"): ("person segmenter", {
        "image": [1, 3, 256, 256], "alpha": [1, 1, 256, 256], "landmarks": [1, 195],
        "presence": [1, 1], "aux_heatmap": [1, 2, 64, 64]}),
}


def _person_contract(kind, want, inputs, outputs):
    problems = []
    if [n for n, _, _ in inputs] != ["image"]:
        problems.append("inputs %s: the %s contract wants [image]"
                        % ([n for n, _, _ in inputs], kind))
    for name, dims, elem in inputs + outputs:
        if name in want and dims != want[name]:
            problems.append("%s %s: the %s contract wants %s" % (name, dims, kind, want[name]))
        if elem != onnx.TensorProto.FLOAT:
            problems.append("%s is not float32" % name)
    return problems


def _contract(model, expect_prev_alpha):
    graph = model.graph
    inputs = [(i.name,) + tuple(_dims(i)) for i in graph.input
              if i.name not in {t.name for t in graph.initializer}]
    outputs = [(o.name,) + tuple(_dims(o)) for o in graph.output]
    person = PERSON_CONTRACTS.get(tuple(n for n, _, _ in outputs))
    if person is not None and expect_prev_alpha is None:
        return _person_contract(person[0], person[1], inputs, outputs)
    problems = []
    names = [n for n, _, _ in inputs]
    if names not in (["image"], ["image", "prev_alpha"]) or \
            (expect_prev_alpha is not None and ("prev_alpha" in names) != expect_prev_alpha):
        problems.append("inputs %s: the contract wants image%s" % (
            names, "" if expect_prev_alpha is False else
            (", prev_alpha" if expect_prev_alpha else " [, prev_alpha]")))
        return problems
    _, image, _ = inputs[0]
    if len(image) != 4 or image[:2] != [1, 3]:
        problems.append("image %s: the contract wants 1x3xHxW" % image)
        return problems
    h, w = image[2:]
    want = {"image": [1, 3, h, w], "prev_alpha": [1, 1, h, w], "alpha": [1, 1, h, w]}
    for name, dims, elem in inputs + outputs:
        if name in want and dims != want[name]:
            problems.append("%s %s: the contract wants %s" % (name, dims, want[name]))
        if elem != onnx.TensorProto.FLOAT:
            problems.append("%s is not float32" % name)
    if [n for n, _, _ in outputs] != ["alpha"]:
        problems.append("outputs %s: the contract wants [alpha]" % [n for n, _, _ in outputs])
    return problems


def input_shape_arg(model):
    """ATC's --input_shape value for a model: name:n,c,h,w;... in input order."""
    inits = {t.name for t in model.graph.initializer}
    parts = []
    for i in model.graph.input:
        if i.name in inits:
            continue
        dims, _ = _dims(i)
        parts.append("%s:%s" % (i.name, ",".join(str(d) for d in dims)))
    return ";".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--input-shape", action="store_true",
                    help="print only ATC's --input_shape value of the (single) model")
    args = ap.parse_args(argv)
    failed = False
    for path in args.models:
        try:
            model = onnx.load(path)
        except Exception as exc:  # onnx raises DecodeError / OSError
            print("%s: cannot read the ONNX file: %s" % (path, str(exc).splitlines()[0]),
                  file=sys.stderr)
            return 2
        if args.input_shape:
            print(input_shape_arg(model))
            continue
        census, problems = check_model(model)
        print("%s: opset %s, ops: %s" % (
            path, {o.domain or "ai.onnx": o.version for o in model.opset_import}.get("ai.onnx"),
            ", ".join("%s %d" % kv for kv in sorted(census.items()))))
        if problems:
            failed = True
            print("%s: %d problem(s) for atc (Ascend 310):" % (path, len(problems)))
            print("\n".join("  " + p for p in problems))
        else:
            print("%s: OK for atc --framework=5 --soc_version=Ascend310" % path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
