"""Export SelfieSegNet to the ONNX files the skill ships (model contract in DESIGN.md).

    python -m tools.model.export_onnx [--out-dir model]

writes
    matting.onnx          landscape 144x256 with the prev_alpha input (the skill's default):
                          MediaPipe's weights plus the trained FeedbackHead of
                          model/feedback_head.json when that file exists (tools/train writes
                          it with --export-head), else the zero stem channel (no effect)
    selfie_landscape.onnx landscape 144x256, image only
    selfie_square.onnx    square 256x256, image only
each with static shapes, opset 11, float32, inputs `image` (1x3xHxW RGB in [0,1]) and, for
matting.onnx, `prev_alpha` (1x1xHxW), output `alpha` (1x1xHxW). The graph is kept to plain
layers for the Ascend converters: constants folded, TensorFlow's asymmetric SAME padding folded
from Pad nodes into the Conv `pads` attribute, no shape-computing nodes.
"""
import argparse
import io
import pathlib
import warnings

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from tools import paths
from tools.model.mediapipe_import import load_selfie_net

HEAD_FILE = paths.REPO / "model" / "feedback_head.json"
# file name -> (variant, prev_alpha)
MODELS = {
    "matting.onnx": ("landscape", True),
    "selfie_landscape.onnx": ("landscape", False),
    "selfie_square.onnx": ("square", False),
}
# Nodes that would make the graph depend on run-time shapes or that ATC/omg handle badly.
FORBIDDEN_OPS = {"Shape", "Gather", "Unsqueeze", "Squeeze", "ConstantOfShape", "Range", "Loop",
                 "If", "Pad", "Cast", "Expand", "Slice", "Reshape", "NonZero"}


def save_head(model, path):
    """The FeedbackHead's weights of `model` as JSON (a few hundred floats, printed exactly):
    with the MediaPipe wheel they are all that makes matting.onnx."""
    import json
    state = {k[len("feedback."):]: v for k, v in model.state_dict().items()
             if k.startswith("feedback.")}
    head = {"what": "FeedbackHead of tools/model/selfie_net.py, trained by python -m tools.train "
                    "(model/MODEL.md); the rest of matting.onnx is MediaPipe's landscape network",
            "channels": model.feedback.channels}
    # one line per tensor: shape and values (float32 printed exactly)
    lines = ['  "%s": {"shape": %s, "values": [%s]}' % (
        k, json.dumps(list(v.shape)), ", ".join("%.9g" % x for x in v.flatten().tolist()))
        for k, v in state.items()]
    text = json.dumps(head, indent=1)[:-2] + ',\n "weights": {\n' + ",\n".join(lines) + "\n }\n}\n"
    json.loads(text)   # well formed
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load_head(model, path):
    """Load save_head's file into a SelfieSegNet(prior_at="head")."""
    import json
    doc = json.loads(pathlib.Path(path).read_text())
    if getattr(model, "feedback", None) is None or doc["channels"] != model.feedback.channels:
        raise ValueError("%s does not fit the model (a FeedbackHead of %s channels, the model "
                         "has %s)" % (path, doc["channels"], getattr(
                             getattr(model, "feedback", None), "channels", "none")))
    state = {"feedback." + k: torch.tensor(np.array(v["values"], np.float32).reshape(v["shape"]))
             for k, v in doc["weights"].items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:   # a tensor of another shape
        raise ValueError("%s does not fit the FeedbackHead: %s" % (path, exc))
    head_missing = [k for k in missing if k.startswith("feedback.")]
    if unexpected or head_missing:
        raise ValueError("%s does not fit the FeedbackHead (unexpected %s, missing %s)"
                         % (path, unexpected, head_missing))
    return model


def load_model(name, head_file=None):
    """The network of model/<name> (a key of MODELS) as the tools make it from the wheel:
    matting.onnx gets the trained FeedbackHead of `head_file` (default HEAD_FILE) when that
    file exists."""
    from tools.model.selfie_net import SelfieSegNet
    variant, prev_alpha = MODELS[name]
    head_file = pathlib.Path(head_file or HEAD_FILE)
    if name == "matting.onnx" and head_file.is_file():
        import json
        channels = json.loads(head_file.read_text())["channels"]
        model = SelfieSegNet(variant, True, "head", channels)
        missing, _ = model.load_state_dict(load_selfie_net(variant).state_dict(), strict=False)
        assert all(k.startswith("feedback.") for k in missing)
        return load_head(model, head_file).eval()
    return load_selfie_net(variant, prev_alpha)


def _dummy_inputs(model):
    h, w = model.input_size
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    if model.prev_alpha:
        return (image, torch.zeros(1, 1, h, w))
    return (image,)


def _initializers(graph):
    return {init.name: init for init in graph.initializer}


def _const_value(graph, name):
    inits = _initializers(graph)
    if name in inits:
        return numpy_helper.to_array(inits[name])
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return numpy_helper.to_array(node.attribute[0].t)
    return None


def fold_constants(model):
    """Evaluate every node whose inputs are all constant and store its outputs as initializers;
    Constant nodes become initializers too. (The legacy exporter leaves the subgraph that
    builds F.pad's pads vector unfolded.)"""
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    keep = []
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            continue
        if all((not name) or name in consts for name in node.input):
            inputs = [name for name in node.input if name]
            single = onnx.helper.make_model(
                onnx.helper.make_graph(
                    [node], "fold",
                    [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(
                        consts[n].dtype), consts[n].shape) for n in inputs],
                    [onnx.helper.make_empty_tensor_value_info(n) for n in node.output]),
                opset_imports=model.opset_import)
            outs = ReferenceEvaluator(single).run(None, {n: consts[n] for n in inputs})
            consts.update(zip(node.output, outs))
            continue
        keep.append(node)
    used = {name for node in keep for name in node.input}
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v), name)
                             for name, v in consts.items() if name in used)
    return model


def static_output_shapes(model):
    """Replace the exporter's symbolic output dims by the ones shape inference derives."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    del model.graph.output[:]
    model.graph.output.extend(inferred.graph.output)
    del model.graph.value_info[:]
    return model


def fold_pad_into_conv(model):
    """Replace every constant zero Pad feeding only a Conv by the Conv's own pads attribute."""
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    drop = []
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        users = consumers.get(pad.output[0], [])
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        pads = _const_value(graph, pad.input[1])
        value = _const_value(graph, pad.input[2]) if len(pad.input) > 2 and pad.input[2] else 0
        if (len(users) != 1 or users[0].op_type != "Conv" or mode != b"constant"
                or pads is None or np.any(np.asarray(value) != 0)):
            continue
        pads = [int(p) for p in pads]
        rank = len(pads) // 2
        begin, end = pads[:rank], pads[rank:]
        if begin[:2] != [0, 0] or end[:2] != [0, 0] or min(pads) < 0:
            continue  # only spatial zero padding can move into the conv
        conv = users[0]
        old = next((a for a in conv.attribute if a.name == "pads"), None)
        conv_pads = list(old.ints) if old is not None else [0] * (2 * (rank - 2))
        n = rank - 2
        new_pads = [conv_pads[i] + begin[2 + i] for i in range(n)] + \
                   [conv_pads[n + i] + end[2 + i] for i in range(n)]
        if old is not None:
            conv.attribute.remove(old)
        conv.attribute.append(onnx.helper.make_attribute("pads", new_pads))
        conv.input[0] = pad.input[0]
        drop.append(pad)
    for node in drop:
        graph.node.remove(node)
    return _prune(model)


def _prune(model):
    """Drop Constant nodes and initializers nothing uses any more."""
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    used |= {o.name for o in graph.output}
    for node in [n for n in graph.node if n.op_type == "Constant" and n.output[0] not in used]:
        graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    return model


def check_contract(model, prev_alpha, input_size, opset=11):
    """Raise if the ONNX model breaks the model contract; returns the shape-inferred model."""
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    h, w = input_size
    want_in = [("image", [1, 3, h, w])] + ([("prev_alpha", [1, 1, h, w])] if prev_alpha else [])
    got_in = [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim])
              for i in inferred.graph.input]
    got_out = [(o.name, [d.dim_value for d in o.type.tensor_type.shape.dim])
               for o in inferred.graph.output]
    if got_in != want_in or got_out != [("alpha", [1, 1, h, w])]:
        raise ValueError("ONNX inputs %s / outputs %s, contract wants %s / alpha [1, 1, %d, %d]"
                         % (got_in, got_out, want_in, h, w))
    for value in list(inferred.graph.input) + list(inferred.graph.output) + \
            list(inferred.graph.value_info):
        t = value.type.tensor_type
        if t.elem_type != onnx.TensorProto.FLOAT:
            raise ValueError("tensor %s is not float32" % value.name)
        if any(not d.HasField("dim_value") for d in t.shape.dim):
            raise ValueError("tensor %s has a non-static shape" % value.name)
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions or max(versions) > opset:
        raise ValueError("opset %s, contract allows <= %d" % (versions, opset))
    bad = sorted({n.op_type for n in model.graph.node} & FORBIDDEN_OPS)
    if bad:
        raise ValueError("graph holds nodes the device converters should not see: %s" % bad)
    return inferred


def export_onnx(model, path, opset=11):
    """Write `model` (a SelfieSegNet) to `path` as a contract-conforming ONNX file."""
    was_training = model.training
    model.eval()
    names = ["image", "prev_alpha"] if model.prev_alpha else ["image"]
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy-exporter deprecation notices
            torch.onnx.export(model, _dummy_inputs(model), buf, input_names=names,
                              output_names=["alpha"], opset_version=opset, dynamo=False,
                              do_constant_folding=True)
    finally:
        model.train(was_training)
    onnx_model = onnx.load_from_string(buf.getvalue())
    # the exporter's symbolic output dims come from before folding; infer them afresh
    for out in onnx_model.graph.output:
        out.type.tensor_type.ClearField("shape")
    onnx_model = static_output_shapes(fold_pad_into_conv(fold_constants(onnx_model)))
    # the script's name before tools/ became packages, kept so that a fresh export stays
    # byte-identical to the shipped model/*.onnx (and the .om made from them)
    onnx_model.producer_name = "tools/export_onnx.py"
    extension = ""
    if model.prev_alpha:
        extension = "; prev_alpha input added" if getattr(model, "prior_at", "stem") == "stem" \
            else "; prev_alpha feeds a FeedbackHead trained by this project"
    onnx_model.doc_string = ("MediaPipe selfie segmentation (%s, Apache-2.0, Google), converted "
                             "by this project%s" % (model.variant, extension))
    check_contract(onnx_model, model.prev_alpha, model.input_size, opset)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, str(path))
    return path


def onnx_matches_torch(model, path, inputs=None):
    """Max abs difference between onnxruntime on `path` and the PyTorch model."""
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inputs = inputs if inputs is not None else _dummy_inputs(model)
    feed = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), inputs)}
    got = sess.run(["alpha"], feed)[0]
    with torch.no_grad():
        want = model(*inputs).numpy()
    return float(np.abs(got - want).max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default=str(paths.REPO / "model"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    for name, (variant, prev_alpha) in MODELS.items():
        model = load_model(name)
        path = export_onnx(model, pathlib.Path(args.out_dir) / name)
        diff = onnx_matches_torch(model, path)
        nodes = onnx.load(str(path)).graph.node
        print("%-22s %-9s prev_alpha=%-5s %7d bytes  %3d nodes  max|onnx-torch| %.2e"
              % (name, variant, getattr(model, "prior_at", None) or prev_alpha,
                 path.stat().st_size, len(nodes), diff))


if __name__ == "__main__":
    main()
