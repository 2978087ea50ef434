"""Check a Caffe model against the HiLens ".om" Caffe operator boundary before calling omg.

The rules are the table "Caffe算子边界" of the HiLens user guide
(shared/reference/hilens-docs/userguide/Caffe算子边界.md): which layer types exist, which of their
parameters are accepted, how many inputs they take, and the numeric limits (kernel, pad,
stride, dilation; Deconvolution's group/dilation/pad rules and its buffer formula; global
pooling's input size; Eltwise's 4 inputs and missing stable_prod_grad; Scale's axis and
(n, c, 1, 1) scale shape; Power's power != 1 ...). Only the layer types below are encoded;
anything else fails as "not encoded", so using a new type means adding its row here first.

`Input` is not in the table: it declares a network input (omg takes the input shapes from
it) and computes nothing; it is accepted when its shape is static and 4-D.

CLI: python -m tools.model.check_caffe_boundary model/matting.prototxt [model/matting.caffemodel]
Prints one line per layer (type, parameters, shapes), the layer-type census and the network
inputs/outputs; exits 1 with the list of violations if there is any.
"""
import argparse
import math
import sys
from collections import Counter

from tools.model import caffe_pb

_CONV_PARAMS = {"num_output", "bias_term", "pad", "kernel_size", "stride", "dilation", "pad_h",
                "pad_w", "kernel_h", "kernel_w", "stride_h", "stride_w", "group",
                "weight_filler", "bias_filler", "engine", "force_nd_im2col", "axis"}

# type -> (parameter message, accepted fields, (min inputs, max inputs)), from the table
BOUNDARY = {
    "Convolution": ("convolution_param", _CONV_PARAMS, (1, 1)),
    "Deconvolution": ("convolution_param", _CONV_PARAMS, (1, 1)),
    "Pooling": ("pooling_param", {"pool", "pad", "pad_h", "pad_w", "kernel_size", "kernel_h",
                                  "kernel_w", "stride", "stride_h", "stride_w", "engine",
                                  "global_pooling", "ceil_mode", "round_mode"}, (1, 1)),
    # "最大支持4个输入", "不支持stable_prod_grad参数"
    "Eltwise": ("eltwise_param", {"operation", "coeff"}, (2, 4)),
    # the table counts the scale operand as the second input; a constant scale is a blob
    "Scale": ("scale_param", {"axis", "num_axes", "filler", "bias_term", "bias_filler"}, (1, 2)),
    "Concat": ("concat_param", {"concat_dim", "axis"}, (1, 1000)),
    "Slice": ("slice_param", {"slice_dim", "slice_point", "axis"}, (1, 1)),
    "Relu": ("relu_param", {"negative_slope", "engine"}, (1, 1)),
    "Sigmoid": ("sigmoid_param", {"engine"}, (1, 1)),
    "Power": ("power_param", {"power", "scale", "shift"}, (1, 1)),
    # "order：uint32，数组", "无约束"
    "Permute": ("permute_param", {"order"}, (1, 1)),
    "Reshape": ("reshape_param", {"shape", "axis", "num_axes"}, (1, 1)),
    "Input": ("input_param", {"shape"}, (0, 0)),
}
# Caffe registers ReLU; the table writes Relu. Both spellings name the same layer.
ALIASES = {"ReLU": "Relu"}
_LAYER_FIELDS = {"name", "type", "bottom", "top", "phase", "blobs"}

DECONV_BUFFER_LIMIT = 1024 * 1024
GLOBAL_POOL_MAX_HW = 10000


def _align16(n):
    return -(-n // 16) * 16


def _pair(param, name, default, combined=None):
    """(h, w) of a Convolution/Pooling size parameter: name_h/name_w, or the (repeated) field
    `combined` (default: name) for both axes."""
    h, w = param.get(name + "_h"), param.get(name + "_w")
    if h is not None or w is not None:
        return (h if h is not None else default, w if w is not None else default)
    value = param.get(combined or name, [])
    if not isinstance(value, list):
        value = [value]
    if not value:
        return (default, default)
    return (value[0], value[-1])


def conv_geometry(layer):
    """kernel, pad, stride, dilation as (h, w) pairs; group, num_output, bias_term."""
    p = layer.get("convolution_param", {})
    return {"kernel": _pair(p, "kernel", None, "kernel_size"),
            "pad": _pair(p, "pad", 0), "stride": _pair(p, "stride", 1),
            "dilation": _pair(p, "dilation", 1), "group": p.get("group", 1),
            "num_output": p.get("num_output"), "bias_term": p.get("bias_term", True)}


def pool_geometry(layer):
    p = layer.get("pooling_param", {})
    return {"kernel": _pair(p, "kernel", None, "kernel_size"), "pad": _pair(p, "pad", 0),
            "stride": _pair(p, "stride", 1), "global": p.get("global_pooling", False),
            "round": p.get("round_mode", "CEIL")}


def output_shapes(layer, in_shapes):
    """Caffe's output shapes of one layer given its input shapes (lists of ints)."""
    kind = ALIASES.get(layer.get("type"), layer.get("type"))
    if kind == "Input":
        return [list(s["dim"]) for s in layer.get("input_param", {}).get("shape", [])]
    x = list(in_shapes[0]) if in_shapes else None
    if kind in ("Relu", "Sigmoid", "Power", "Eltwise", "Scale"):
        return [x]
    if kind in ("Convolution", "Deconvolution"):
        g = conv_geometry(layer)
        out = x[:2] + [0, 0]
        out[1] = g["num_output"]
        for i in range(2):
            k_eff = g["dilation"][i] * (g["kernel"][i] - 1) + 1
            size = x[2 + i]
            if kind == "Convolution":
                out[2 + i] = (size + 2 * g["pad"][i] - k_eff) // g["stride"][i] + 1
            else:
                out[2 + i] = g["stride"][i] * (size - 1) + k_eff - 2 * g["pad"][i]
        return [out]
    if kind == "Pooling":
        g = pool_geometry(layer)
        if g["global"]:
            return [x[:2] + [1, 1]]
        out = x[:2] + [0, 0]
        for i in range(2):
            span = x[2 + i] + 2 * g["pad"][i] - g["kernel"][i]
            rounding = math.floor if g["round"] == "FLOOR" else math.ceil
            size = int(rounding(span / g["stride"][i])) + 1
            # Caffe: the last window must start inside the image (or its top/left padding)
            if g["pad"][i] and (size - 1) * g["stride"][i] >= x[2 + i] + g["pad"][i]:
                size -= 1
            out[2 + i] = size
        return [out]
    if kind == "Concat":
        axis = _axis(layer.get("concat_param", {}), len(x), "concat_dim")
        out = list(x)
        out[axis] = sum(s[axis] for s in in_shapes)
        return [out]
    if kind == "Slice":
        p = layer.get("slice_param", {})
        axis = _axis(p, len(x), "slice_dim")
        points = [0] + list(p.get("slice_point", [])) + [x[axis]]
        outs = []
        for a, b in zip(points[:-1], points[1:]):
            s = list(x)
            s[axis] = b - a
            outs.append(s)
        if not p.get("slice_point"):  # even split over the tops
            n = len(layer.get("top", []))
            outs = [list(x[:axis]) + [x[axis] // n] + list(x[axis + 1:]) for _ in range(n)]
        return outs
    if kind == "Permute":
        order = list(layer.get("permute_param", {}).get("order", []))
        order += [i for i in range(len(x)) if i not in order]  # Caffe appends the rest
        return [[x[i] for i in order]]
    if kind == "Reshape":
        dims = list(layer.get("reshape_param", {}).get("shape", {}).get("dim", []))
        out = [x[i] if d == 0 else d for i, d in enumerate(dims)]
        if -1 in out:
            known = math.prod(d for d in out if d != -1)
            out[out.index(-1)] = math.prod(x) // known
        return [out]
    raise ValueError("no shape rule for layer type %r" % kind)


def _axis(param, ndim, legacy_name):
    if legacy_name in param:
        return int(param[legacy_name])
    axis = int(param.get("axis", 1))
    return axis + ndim if axis < 0 else axis


def infer_shapes(net):
    """{blob name: shape} for every top, in layer order. Raises on an undefined bottom."""
    shapes = {}
    for name, shape in zip(net.get("input", []), net.get("input_shape", [])):
        shapes[name] = list(shape["dim"])
    for layer in net.get("layer", []):
        missing = [b for b in layer.get("bottom", []) if b not in shapes]
        if missing:
            raise ValueError("layer %r reads %s before any layer writes it"
                             % (layer.get("name"), ", ".join(missing)))
        outs = output_shapes(layer, [shapes[b] for b in layer.get("bottom", [])])
        for top, shape in zip(layer.get("top", []), outs):
            shapes[top] = shape
    return shapes


# ---------------------------------------------------------------- per-type limits

def _check_conv(layer, ins, outs, problems):
    g = conv_geometry(layer)
    x = ins[0]
    if len(x) != 4:
        problems.append("input must be 4-D, got %s" % (x,))
        return
    if None in g["kernel"]:
        problems.append("kernel size missing")
        return
    if g["num_output"] is None:
        problems.append("num_output missing")
    if layer.get("convolution_param", {}).get("axis", 1) != 1:
        problems.append("axis must be 1 (channels)")
    for i, axis in enumerate("HW"):
        k, p, s, d = g["kernel"][i], g["pad"][i], g["stride"][i], g["dilation"][i]
        if not 0 <= p < 256:
            problems.append("pad%s=%d outside [0, 256)" % (axis, p))
        if not 0 < k < 256:
            problems.append("kernel%s=%d outside (0, 256)" % (axis, k))
        if not 0 < s < 64:
            problems.append("stride%s=%d outside (0, 64)" % (axis, s))
        if not 1 <= d < 256:
            problems.append("dilation%s=%d outside [1, 256)" % (axis, d))
        if layer["type"] == "Convolution" and x[2 + i] + 2 * p < (k - 1) * d + 1:
            problems.append("input%s + pads (%d) smaller than the dilated kernel (%d)"
                            % (axis, x[2 + i] + 2 * p, (k - 1) * d + 1))
        if layer["type"] == "Deconvolution" and k - p - 1 < 0:
            problems.append("filter%s - pad%s - 1 = %d < 0" % (axis, axis, k - p - 1))
    group = g["group"]
    if x[1] % group or (g["num_output"] or 0) % group:
        problems.append("group %d does not divide in/out channels %d/%s"
                        % (group, x[1], g["num_output"]))
    if layer["type"] == "Deconvolution":
        if group != 1:
            problems.append("Deconvolution needs group = 1, got %d" % group)
        if g["dilation"] != (1, 1):
            problems.append("Deconvolution needs dilation = 1, got %s" % (g["dilation"],))
        # the table's buffer formula; filter blob is (C_in, C_out, kh, kw)
        kh, kw = g["kernel"]
        filter_num, filter_c = x[1], g["num_output"] or 0
        a = _align16(filter_num) * _align16(filter_c) * kh * kw * 2
        if _align16(filter_c) % 32 == 0:
            a //= 2
        conv_input_width = (x[3] - 1) * g["stride"][1] + 1
        b = conv_input_width * kh * _align16(filter_num) * 2 * 2
        if a + b > DECONV_BUFFER_LIMIT:
            problems.append("buffer a + b = %d exceeds %d" % (a + b, DECONV_BUFFER_LIMIT))
    _check_conv_blobs(layer, x, g, problems)


def _check_conv_blobs(layer, x, g, problems):
    blobs = layer.get("blobs")
    if blobs is None:
        return
    want = [x[1], g["num_output"] // g["group"]] if layer["type"] == "Deconvolution" else \
        [g["num_output"], x[1] // g["group"]]
    want += list(g["kernel"])
    shapes = [list(caffe_pb.blob_array(b).shape) for b in blobs]
    expected = [want] + ([[g["num_output"]]] if g["bias_term"] else [])
    if shapes != expected:
        problems.append("weights %s, expected %s (the filter must be a constant 4-D blob)"
                        % (shapes, expected))


def _check_pool(layer, ins, outs, problems):
    g = pool_geometry(layer)
    p = layer.get("pooling_param", {})
    x = ins[0]
    if "kernel_size" in p and ("kernel_h" in p or "kernel_w" in p):
        problems.append("kernel_size and kernel_h/kernel_w together")
    if ("kernel_h" in p) != ("kernel_w" in p):
        problems.append("kernel_h and kernel_w must come together")
    if g["global"]:
        if outs[0][2:] != [1, 1]:
            problems.append("global pooling must give 1x1")
        if x[2] * x[3] > GLOBAL_POOL_MAX_HW:
            problems.append("global pooling over %dx%d = %d > %d inputs"
                            % (x[2], x[3], x[2] * x[3], GLOBAL_POOL_MAX_HW))
        return
    if None in g["kernel"]:
        problems.append("kernel size missing")
        return
    for i, axis in enumerate("HW"):
        k, pad = g["kernel"][i], g["pad"][i]
        if k > x[2 + i] + 2 * pad:
            problems.append("kernel%s %d > input + pads %d" % (axis, k, x[2 + i] + 2 * pad))
        if pad >= k:
            problems.append("pad%s %d not smaller than the window %d" % (axis, pad, k))


def _check_eltwise(layer, ins, outs, problems):
    p = layer.get("eltwise_param", {})
    if any(s != ins[0] for s in ins):
        problems.append("inputs differ in shape: %s" % ins)
    coeff = list(p.get("coeff", []))
    if coeff and p.get("operation", "SUM") != "SUM":
        problems.append("coeff only applies to SUM")
    if coeff and len(coeff) != len(ins):
        problems.append("%d coeffs for %d inputs" % (len(coeff), len(ins)))


def _check_scale(layer, ins, outs, problems):
    p = layer.get("scale_param", {})
    x = ins[0]
    if len(x) != 4:
        problems.append("input must be 4-D, got %s" % (x,))
        return
    if p.get("axis", 1) not in (1, -3):
        problems.append("axis must be 1 or -3, got %s" % p.get("axis"))
    if len(ins) == 2:
        s = ins[1]
        if len(s) != 4 or s[2:] != [1, 1] or s[1] != x[1] or s[0] not in (1, x[0]):
            problems.append("scale input must be (n, %d, 1, 1), got %s" % (x[1], s))
        if p.get("bias_term"):
            problems.append("bias_term with a scale input is not a form the table lists")
        return
    blobs = layer.get("blobs")
    if blobs is not None:
        want = 2 if p.get("bias_term") else 1
        sizes = [caffe_pb.blob_array(b).size for b in blobs]
        if len(sizes) != want or any(n != x[1] for n in sizes):
            problems.append("needs %d blob(s) of %d values (per channel), got sizes %s"
                            % (want, x[1], sizes))
    elif p.get("num_axes", 1) != 1:
        problems.append("num_axes must be 1 (per-channel scale)")


def _check_concat(layer, ins, outs, problems):
    p = layer.get("concat_param", {})
    if "axis" in p and "concat_dim" in p:
        problems.append("axis and concat_dim together")
    if p.get("axis") == -1 and any(len(s) != 4 for s in ins):
        problems.append("axis -1 needs 4-D inputs")
    if "concat_dim" in p and p["concat_dim"] <= 0:
        problems.append("concat_dim must be > 0")
    axis = _axis(p, len(ins[0]), "concat_dim")
    for s in ins:
        if len(s) != len(ins[0]) or any(a != b for i, (a, b) in enumerate(zip(s, ins[0]))
                                        if i != axis):
            problems.append("inputs differ outside axis %d: %s" % (axis, ins))
            break


def _check_slice(layer, ins, outs, problems):
    p = layer.get("slice_param", {})
    if "axis" in p and "slice_dim" in p:
        problems.append("axis and slice_dim together")
    axis = _axis(p, len(ins[0]), "slice_dim")
    points = list(p.get("slice_point", []))
    if points and (points != sorted(set(points)) or points[0] <= 0
                   or points[-1] >= ins[0][axis]):
        problems.append("slice points %s not increasing inside (0, %d)" % (points, ins[0][axis]))
    if points and len(points) + 1 != len(layer.get("top", [])):
        problems.append("%d slice points for %d tops" % (len(points), len(layer.get("top", []))))


def _check_power(layer, ins, outs, problems):
    p = layer.get("power_param", {})
    if p.get("power", 1.0) == 1.0:
        problems.append("power must not be 1 (the table: power != 1)")
    problems.append("scale*x+shift > 0 is required and cannot be proven from the graph")


def _check_permute(layer, ins, outs, problems):
    order = list(layer.get("permute_param", {}).get("order", []))
    if sorted(order) != list(range(len(order))) or len(order) > len(ins[0]):
        problems.append("order %s is not a permutation of the input's %d axes"
                        % (order, len(ins[0])))


def _check_input(layer, ins, outs, problems):
    shapes = layer.get("input_param", {}).get("shape", [])
    if len(shapes) != len(layer.get("top", [])):
        problems.append("%d shapes for %d tops" % (len(shapes), len(layer.get("top", []))))
    for s in shapes:
        dims = list(s.get("dim", []))
        if len(dims) != 4 or any(d <= 0 for d in dims):
            problems.append("input shape must be static 4-D, got %s" % dims)


_LIMITS = {"Convolution": _check_conv, "Deconvolution": _check_conv, "Pooling": _check_pool,
           "Eltwise": _check_eltwise, "Scale": _check_scale, "Concat": _check_concat,
           "Slice": _check_slice, "Power": _check_power, "Permute": _check_permute,
           "Input": _check_input}


def _axis_sign_rule(layer, ins, problems):
    """The table's preamble: with inputs that are not 4-D, an axis parameter may not be
    negative."""
    if all(len(s) == 4 for s in ins):
        return
    for pname in ("concat_param", "slice_param", "scale_param", "reshape_param",
                  "convolution_param"):
        if layer.get(pname, {}).get("axis", 0) < 0:
            problems.append("negative axis with a non-4-D input")


def _format_params(layer):
    parts = []
    for key, value in layer.items():
        if key.endswith("_param"):
            items = ["%s=%s" % (k, _short(v)) for k, v in value.items()]
            parts.append(" ".join(items))
    return " ".join(parts)


def _short(v):
    if isinstance(v, dict):
        return "{%s}" % " ".join("%s=%s" % (k, _short(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)) or hasattr(v, "tolist"):
        v = list(v.tolist() if hasattr(v, "tolist") else v)
        return "[%s]" % ",".join(_short(x) for x in v)
    if isinstance(v, float):
        return "%.6g" % v
    return str(v)


def check_net(net):
    """(report lines, violations, census, inputs, outputs) for a NetParameter dict whose
    layers may carry blobs (from read_net with a caffemodel)."""
    lines, violations = [], []
    shapes = {}
    census = Counter()
    consumed = set()
    inputs = []
    if net.get("input"):
        violations.append("net-level `input` fields: declare inputs with Input layers")
    names = set()
    for index, layer in enumerate(net.get("layer", [])):
        name = layer.get("name", "#%d" % index)
        kind = ALIASES.get(layer.get("type"), layer.get("type"))
        census[kind] += 1
        problems = []
        if name in names:
            problems.append("duplicate layer name")
        names.add(name)
        bottoms, tops = layer.get("bottom", []), layer.get("top", [])
        missing = [b for b in bottoms if b not in shapes]
        if missing:
            problems.append("reads undefined blob(s) %s" % ", ".join(missing))
        extra = set(layer) - _LAYER_FIELDS - {BOUNDARY.get(kind, ("",))[0]}
        if extra:
            problems.append("parameters of another layer type: %s" % ", ".join(sorted(extra)))
        outs = []
        if kind not in BOUNDARY:
            problems.append("layer type %r is not in the boundary table (or its limits are "
                            "not encoded in this checker)" % layer.get("type"))
        elif not missing:
            pname, accepted, (lo, hi) = BOUNDARY[kind]
            unknown = set(layer.get(pname, {})) - accepted
            if unknown:
                problems.append("parameter(s) outside the table: %s" % ", ".join(sorted(unknown)))
            if not lo <= len(bottoms) <= hi:
                problems.append("%d inputs, the table allows %d..%d" % (len(bottoms), lo, hi))
            ins = [shapes[b] for b in bottoms]
            try:
                outs = output_shapes(layer, ins)
            except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError) as exc:
                problems.append("cannot compute output shape: %s" % exc)
            if outs:
                if any(d <= 0 for s in outs for d in s):
                    problems.append("empty output %s" % outs)
                if kind in _LIMITS:
                    _LIMITS[kind](layer, ins, outs, problems)
                _axis_sign_rule(layer, ins, problems)
            if kind not in ("Convolution", "Deconvolution", "Scale") and layer.get("blobs"):
                problems.append("carries weights, which a %s has none of" % kind)
        for top, shape in zip(tops, outs):
            shapes[top] = shape
        if kind == "Input":
            inputs += [(t, shapes.get(t)) for t in tops]
        consumed.update(bottoms)
        status = "ok" if not problems else "FAIL: " + "; ".join(problems)
        lines.append("%-40s %-13s %-60s %s -> %s  %s" % (
            name, kind, _format_params(layer)[:60],
            "x".join(str(d) for d in shapes.get(bottoms[0], [])) if bottoms else "-",
            ",".join("x".join(str(d) for d in s) for s in outs) or "-", status))
        violations += ["%s (%s): %s" % (name, kind, p) for p in problems]
    outputs = [(t, shapes[t]) for t in shapes if t not in consumed
               and t not in {i for i, _ in inputs}]
    return lines, violations, census, inputs, outputs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prototxt")
    ap.add_argument("caffemodel", nargs="?", help="also check the weight blobs' shapes")
    ap.add_argument("--quiet", action="store_true", help="only the census and the verdict")
    args = ap.parse_args(argv)
    try:
        net = caffe_pb.read_net(args.prototxt, args.caffemodel)
    except (OSError, caffe_pb.CaffeFormatError) as exc:
        print("error: cannot read the model: %s" % exc, file=sys.stderr)
        return 2
    lines, violations, census, inputs, outputs = check_net(net)
    if not args.quiet:
        print("\n".join(lines))
    print("layer types: " + ", ".join("%s %d" % kv for kv in sorted(census.items())))
    print("inputs: " + ", ".join("%s %s" % (n, "x".join(map(str, s or []))) for n, s in inputs))
    print("outputs: " + ", ".join("%s %s" % (n, "x".join(map(str, s))) for n, s in outputs))
    if violations:
        print("%d violation(s) of the Caffe operator boundary:" % len(violations))
        print("\n".join("  " + v for v in violations))
        return 1
    print("OK: %d layers inside the Caffe operator boundary" % sum(census.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
