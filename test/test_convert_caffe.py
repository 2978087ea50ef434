"""Caffe export for omg: our protobuf writer/reader, the module walk, the shipped files, and the
operator-boundary checker.

Independent judges: Google's protobuf runtime for the wire and text encodings (same schema,
other implementation), OpenCV 4's Caffe importer (its own compiled caffe.proto and layer
implementations) for the files' meaning, ONNX Runtime and PyTorch for the numbers.
"""
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from tools.model import caffe_pb, export_caffe
from tools.model import check_caffe_boundary as boundary
from tools.model.selfie_net import SelfieSegNet

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOTXT = ROOT / "model" / "matting.prototxt"
CAFFEMODEL = ROOT / "model" / "matting.caffemodel"
ONNX_MODEL = ROOT / "model" / "matting.onnx"


def google_messages():
    """Message classes built by Google's protobuf from caffe_pb.SCHEMA."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    fd = descriptor_pb2.FieldDescriptorProto
    scalar = {"float": fd.TYPE_FLOAT, "double": fd.TYPE_DOUBLE, "int32": fd.TYPE_INT32,
              "int64": fd.TYPE_INT64, "uint32": fd.TYPE_UINT32, "bool": fd.TYPE_BOOL,
              "string": fd.TYPE_STRING}
    proto = descriptor_pb2.FileDescriptorProto(name="caffe_subset.proto", package="caffe",
                                               syntax="proto2")
    # enum values share their parent's scope (MAX is both a pool and an eltwise op), so each
    # enum is nested in every message that uses it, as caffe.proto does
    for msg_name, fields in caffe_pb.SCHEMA.items():
        msg = proto.message_type.add(name=msg_name)
        for enum_name in sorted({t[5:] for _, t, _ in fields.values() if t.startswith("enum:")}):
            enum = msg.enum_type.add(name=enum_name)
            for key, number in caffe_pb.ENUMS[enum_name].items():
                enum.value.add(name=key, number=number)
        for name, (number, ftype, label) in fields.items():
            field = msg.field.add(name=name, number=number)
            field.label = fd.LABEL_OPTIONAL if label == caffe_pb.OPT else fd.LABEL_REPEATED
            if label == caffe_pb.PACKED:
                field.options.packed = True
            if ftype in scalar:
                field.type = scalar[ftype]
            elif ftype.startswith("enum:"):
                field.type = fd.TYPE_ENUM
                field.type_name = ".caffe.%s.%s" % (msg_name, ftype[5:])
            else:
                field.type, field.type_name = fd.TYPE_MESSAGE, ".caffe." + ftype
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName("caffe." + name))
            for name in caffe_pb.SCHEMA}


SAMPLE_NET = {
    "name": "sample",
    "layer": [
        {"name": "in", "type": "Input", "top": ["in"],
         "input_param": {"shape": [{"dim": [1, 3, 8, 300]}]}},
        {"name": "c", "type": "Convolution", "bottom": ["in"], "top": ["c"],
         "convolution_param": {"num_output": 2, "pad": [1], "kernel_size": [3], "group": 1,
                               "bias_term": True, "axis": -1},
         "blobs": [caffe_pb.blob(np.linspace(-1e6, 1e-7, 54).reshape(2, 3, 3, 3)),
                   caffe_pb.blob([0.5, -0.25])]},
        {"name": "e", "type": "Eltwise", "bottom": ["c", "c"], "top": ["e"],
         "eltwise_param": {"operation": "SUM", "coeff": [1.0 / 6, -1.0 / 6]}},
        {"name": "p", "type": "Pooling", "bottom": ["e"], "top": ["p"],
         "pooling_param": {"pool": "AVE", "global_pooling": True}},
        {"name": 'weird "name"', "type": "Slice", "bottom": ["e"], "top": ["s0", "s1"],
         "slice_param": {"axis": 3, "slice_point": [150]}},
    ],
}


def test_convert_caffe_pb_roundtrips_binary_and_text():
    data = caffe_pb.encode("NetParameter", SAMPLE_NET)
    back = caffe_pb.decode("NetParameter", data)
    assert caffe_pb.encode("NetParameter", back) == data
    conv = back["layer"][1]
    assert conv["convolution_param"]["axis"] == -1  # negative int32: 10-byte varint
    np.testing.assert_array_equal(caffe_pb.blob_array(conv["blobs"][0]),
                                  np.linspace(-1e6, 1e-7, 54, dtype=np.float32).reshape(2, 3, 3, 3))
    text = caffe_pb.to_text("NetParameter", SAMPLE_NET)
    assert caffe_pb.encode("NetParameter", caffe_pb.parse_text("NetParameter", text)) == data


def test_convert_caffe_pb_agrees_with_google_protobuf():
    from google.protobuf import text_format
    classes = google_messages()
    data = caffe_pb.encode("NetParameter", SAMPLE_NET)
    theirs = classes["NetParameter"].FromString(data)
    assert [l.name for l in theirs.layer] == [l["name"] for l in SAMPLE_NET["layer"]]
    assert theirs.layer[1].convolution_param.axis == -1
    assert list(theirs.layer[2].eltwise_param.coeff) == pytest.approx([1 / 6, -1 / 6])
    assert theirs.layer[3].pooling_param.pool == caffe_pb.ENUMS["PoolMethod"]["AVE"]
    # Google's serialisation decodes to the same message with ours
    assert caffe_pb.encode("NetParameter",
                           caffe_pb.decode("NetParameter", theirs.SerializeToString())) == data
    # Google's text parser reads our text format to the same message
    parsed = text_format.Parse(caffe_pb.to_text("NetParameter", SAMPLE_NET),
                               classes["NetParameter"]())
    assert parsed == theirs
    # and the shipped files parse with Google's runtime too
    text_format.Parse(PROTOTXT.read_text(), classes["NetParameter"]())
    shipped = classes["NetParameter"].FromString(CAFFEMODEL.read_bytes())
    assert len(shipped.layer) == len(caffe_pb.read_net(str(PROTOTXT))["layer"])


def test_convert_caffe_pb_rejects_broken_input():
    with pytest.raises(caffe_pb.CaffeFormatError, match="no field 'bogus'"):
        caffe_pb.parse_text("NetParameter", 'layer { name: "a" bogus: 1 }')
    with pytest.raises(caffe_pb.CaffeFormatError, match="not closed"):
        caffe_pb.parse_text("NetParameter", 'layer { name: "a"')
    with pytest.raises(caffe_pb.CaffeFormatError, match="truncated|runs past"):
        caffe_pb.decode("NetParameter", caffe_pb.encode("NetParameter", SAMPLE_NET)[:-3])


def _random_model(variant, prev_alpha, seed):
    torch.manual_seed(seed)
    model = SelfieSegNet(variant, prev_alpha).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0).add_(0.05 * torch.randn_like(p))  # livelier than the init: logits ~ +-8
    return model


# blob name in the Caffe net -> the PyTorch module whose output it must equal
PROBES = ("stem/act", "encoder0/project", "encoder3/project", "encoder7/residual", "lraspp",
          "decoder0/residual", "decoder2/residual", "head/deconv", "alpha")


def _torch_probes(model, feed):
    got = {}
    hooks = [model.stem.register_forward_hook(lambda m, i, o: got.__setitem__("stem/act", o)),
             model.encoder[0].register_forward_hook(
                 lambda m, i, o: got.__setitem__("encoder0/project", o)),
             model.encoder[3].register_forward_hook(
                 lambda m, i, o: got.__setitem__("encoder3/project", o)),
             model.encoder[7].register_forward_hook(
                 lambda m, i, o: got.__setitem__("encoder7/residual", o)),
             model.lraspp.register_forward_hook(lambda m, i, o: got.__setitem__("lraspp", o)),
             model.decoder[0].register_forward_hook(
                 lambda m, i, o: got.__setitem__("decoder0/residual", o)),
             model.decoder[2].register_forward_hook(
                 lambda m, i, o: got.__setitem__("decoder2/residual", o)),
             model.head.deconv.register_forward_hook(
                 lambda m, i, o: got.__setitem__("head/deconv", o))]
    with torch.no_grad():
        args = [torch.from_numpy(feed["image"])]
        if "prev_alpha" in feed:
            args.append(torch.from_numpy(feed["prev_alpha"]))
        got["alpha"] = model(*args)
    for h in hooks:
        h.remove()
    return {k: v.numpy() for k, v in got.items()}


@pytest.mark.parametrize("variant,prev_alpha", [("landscape", True), ("square", False)])
@pytest.mark.shared_data("hsd")
def test_convert_caffe_module_walk_equals_pytorch(tmp_path, variant, prev_alpha):
    """Any weights: every stage of the exported net equals the PyTorch module (OpenCV runs it)."""
    torch.set_num_threads(1)
    model = _random_model(variant, prev_alpha, seed=1)
    proto, weights = export_caffe.write_caffe(model, tmp_path / "net")
    h, w = model.input_size
    frames = export_caffe.real_frames((h, w), count=2, seed=5)
    feeds = export_caffe.feeds_for_frames(frames, prev_alpha, seed=5)
    outs = export_caffe.run_opencv_caffe(proto, weights, feeds, output=",".join(PROBES))
    for feed, blobs in zip(feeds, outs):
        want = _torch_probes(model, feed)
        tolerance = {}
        for name, got in zip(PROBES, blobs):
            ref = want[name]
            assert got.shape == ref.shape, name
            # float32 relative error; the sigmoid's slope is at most 1/4
            tolerance[name] = 2e-5 * max(float(np.abs(ref).max()), 1.0) if name != "alpha" \
                else 0.25 * tolerance["head/deconv"]
            assert np.abs(got - ref).max() <= tolerance[name], name
        assert float(np.abs(want["head/deconv"]).max()) > 3 and want["alpha"].std() > 0.2
    _, violations, _, _, outputs = boundary.check_net(caffe_pb.read_net(proto, weights))
    assert violations == [] and [n for n, _ in outputs] == ["alpha"]


def test_convert_caffe_shipped_files_are_current(tmp_path):
    """model/matting.{prototxt,caffemodel} are exactly what export_caffe makes of matting.onnx."""
    model = export_caffe.make_model("landscape", True, "onnx", ONNX_MODEL)
    proto, weights = export_caffe.write_caffe(model, tmp_path / "matting")
    assert pathlib.Path(proto).read_text() == PROTOTXT.read_text()
    assert pathlib.Path(weights).read_bytes() == CAFFEMODEL.read_bytes()


@pytest.mark.shared_data("hsd")
def test_convert_caffe_opencv_matches_onnx_runtime_on_real_frames():
    diffs = export_caffe.compare_with_onnx(PROTOTXT, CAFFEMODEL, ONNX_MODEL, count=16)
    # same engine (OpenCV) on both files: only the conversion differs
    assert max(diffs["vs_opencv_onnx"]) <= export_caffe.MAX_DIFF_VS_OPENCV_ONNX
    # against ONNX Runtime, OpenCV's float32 arithmetic adds its own ~1e-4
    assert max(diffs["vs_ort"]) <= export_caffe.MAX_DIFF_VS_ORT
    assert np.median(diffs["vs_ort"]) <= 1e-4


def test_convert_caffe_shipped_net_is_inside_the_boundary():
    net = caffe_pb.read_net(str(PROTOTXT), str(CAFFEMODEL))
    lines, violations, census, inputs, outputs = boundary.check_net(net)
    assert violations == []
    assert [(n, s) for n, s in inputs] == [("image", [1, 3, 144, 256]),
                                           ("prev_alpha", [1, 1, 144, 256])]
    assert outputs == [("alpha", [1, 1, 144, 256])]
    assert set(census) <= {"Input", "Convolution", "Deconvolution", "Relu", "Sigmoid", "Scale",
                           "Eltwise", "Pooling", "Concat", "Slice"}
    assert len(lines) == sum(census.values())
    proc = subprocess.run([sys.executable, "-m", "tools.model.check_caffe_boundary",
                           str(PROTOTXT), str(CAFFEMODEL)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "layer types: " in proc.stdout and "OK:" in proc.stdout


def _net(*layers):
    base = [{"name": "x", "type": "Input", "top": ["x"],
             "input_param": {"shape": [{"dim": [1, 4, 144, 256]}]}}]
    return {"name": "t", "layer": base + list(layers)}


def _layer(name, kind, bottoms, **params):
    layer = {"name": name, "type": kind, "bottom": list(bottoms), "top": [name]}
    layer.update(params)
    return layer


BAD_LAYERS = {
    "ReLU6 is not in the table": _layer("r6", "ReLU6", ["x"]),
    "Interp's limits are not encoded": _layer("up", "Interp", ["x"]),
    "5-input Eltwise": _layer("e", "Eltwise", ["x"] * 5),
    "stable_prod_grad": _layer("e", "Eltwise", ["x", "x"], eltwise_param={
        "operation": "PROD", "stable_prod_grad": True}),
    "global pool over 36864": _layer("g", "Pooling", ["x"], pooling_param={
        "pool": "AVE", "global_pooling": True}),
    "grouped Deconvolution": _layer("d", "Deconvolution", ["x"], convolution_param={
        "num_output": 4, "kernel_size": [4], "stride": [2], "group": 2}),
    "Deconvolution pad past the filter": _layer("d", "Deconvolution", ["x"], convolution_param={
        "num_output": 4, "kernel_size": [2], "stride": [2], "pad": [2]}),
    "Power with power 1": _layer("pw", "Power", ["x"], power_param={"shift": 3.0}),
    "Scale on axis 2": _layer("s", "Scale", ["x"], scale_param={"axis": 2}),
    "kernel of 300": _layer("c", "Convolution", ["x"], convolution_param={
        "num_output": 4, "kernel_size": [300]}),
    "stride of 64": _layer("c", "Convolution", ["x"], convolution_param={
        "num_output": 4, "kernel_size": [3], "stride": [64]}),
    "pooling_param on a Convolution": _layer("c", "Convolution", ["x"], convolution_param={
        "num_output": 4, "kernel_size": [1]}, pooling_param={"pool": "MAX"}),
    "undefined bottom": _layer("r", "ReLU", ["nowhere"]),
}


@pytest.mark.parametrize("case", sorted(BAD_LAYERS))
def test_convert_caffe_checker_rejects_out_of_boundary_layers(case):
    layer = BAD_LAYERS[case]
    _, violations, _, _, _ = boundary.check_net(_net(layer))
    assert violations and all(v.startswith(layer["name"] + " (") for v in violations), violations


def test_convert_caffe_checker_cli_lists_offenders(tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text(caffe_pb.to_text("NetParameter", _net(BAD_LAYERS["5-input Eltwise"],
                                                         _layer("ok", "ReLU", ["x"]))))
    proc = subprocess.run([sys.executable, "-m", "tools.model.check_caffe_boundary",
                           str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "e (Eltwise): 5 inputs, the table allows 2..4" in proc.stdout
    assert "ok (Relu)" not in proc.stdout.split("violation(s)")[1]
