"""A minimal caffe.proto in Python: the messages our Caffe export needs, written and read in
both protobuf encodings, with no protobuf dependency.

- Binary wire format (`.caffemodel`): `encode(msg_type, msg)` / `decode(msg_type, data)`.
- Text format (`.prototxt`): `to_text(msg_type, msg)` / `parse_text(msg_type, text)`.

A message is a plain dict {field name: value}; repeated fields are lists, nested messages are
dicts, enums are their names ("AVE"), bytes of float blobs are lists or numpy arrays.

Only a subset of BVLC caffe.proto is described: the field names and numbers below are Caffe's
public schema (the numbers are what makes the files readable by Caffe, OpenCV and omg), the code
is ours. Unknown fields met while decoding are skipped, as protobuf does.
"""
import re
import struct

import numpy as np

# label
OPT, REP, PACKED = "optional", "repeated", "packed"

ENUMS = {
    "Phase": {"TRAIN": 0, "TEST": 1},
    "PoolMethod": {"MAX": 0, "AVE": 1, "STOCHASTIC": 2},
    "RoundMode": {"CEIL": 0, "FLOOR": 1},
    "EltwiseOp": {"PROD": 0, "SUM": 1, "MAX": 2},
    "Engine": {"DEFAULT": 0, "CAFFE": 1, "CUDNN": 2},
}

# message -> field name -> (number, type, label). Types: double, float, int32, int64, uint32,
# bool, string, enum:<Enum>, or a message name. Field order here is the text output order.
SCHEMA = {
    "NetParameter": {
        "name": (1, "string", OPT),
        "input": (3, "string", REP),
        "input_shape": (8, "BlobShape", REP),
        "input_dim": (4, "int32", REP),
        "layer": (100, "LayerParameter", REP),
    },
    "BlobShape": {
        "dim": (1, "int64", PACKED),
    },
    "BlobProto": {
        "shape": (7, "BlobShape", OPT),
        "data": (5, "float", PACKED),
        "num": (1, "int32", OPT),
        "channels": (2, "int32", OPT),
        "height": (3, "int32", OPT),
        "width": (4, "int32", OPT),
    },
    "LayerParameter": {
        "name": (1, "string", OPT),
        "type": (2, "string", OPT),
        "bottom": (3, "string", REP),
        "top": (4, "string", REP),
        "phase": (10, "enum:Phase", OPT),
        "concat_param": (104, "ConcatParameter", OPT),
        "convolution_param": (106, "ConvolutionParameter", OPT),
        "eltwise_param": (110, "EltwiseParameter", OPT),
        "input_param": (143, "InputParameter", OPT),
        "pooling_param": (121, "PoolingParameter", OPT),
        "permute_param": (202, "PermuteParameter", OPT),  # SSD Caffe's number, as omg's
        "power_param": (122, "PowerParameter", OPT),
        "relu_param": (123, "ReLUParameter", OPT),
        "reshape_param": (133, "ReshapeParameter", OPT),
        "scale_param": (142, "ScaleParameter", OPT),
        "sigmoid_param": (124, "SigmoidParameter", OPT),
        "slice_param": (126, "SliceParameter", OPT),
        "blobs": (7, "BlobProto", REP),
    },
    "ConcatParameter": {
        "axis": (2, "int32", OPT),
        "concat_dim": (1, "uint32", OPT),
    },
    "ConvolutionParameter": {
        "num_output": (1, "uint32", OPT),
        "bias_term": (2, "bool", OPT),
        "pad": (3, "uint32", REP),
        "kernel_size": (4, "uint32", REP),
        "stride": (6, "uint32", REP),
        "dilation": (18, "uint32", REP),
        "pad_h": (9, "uint32", OPT),
        "pad_w": (10, "uint32", OPT),
        "kernel_h": (11, "uint32", OPT),
        "kernel_w": (12, "uint32", OPT),
        "stride_h": (13, "uint32", OPT),
        "stride_w": (14, "uint32", OPT),
        "group": (5, "uint32", OPT),
        "engine": (15, "enum:Engine", OPT),
        "axis": (16, "int32", OPT),
        "force_nd_im2col": (17, "bool", OPT),
    },
    "EltwiseParameter": {
        "operation": (1, "enum:EltwiseOp", OPT),
        "coeff": (2, "float", REP),
        "stable_prod_grad": (3, "bool", OPT),
    },
    "InputParameter": {
        "shape": (1, "BlobShape", REP),
    },
    "PoolingParameter": {
        "pool": (1, "enum:PoolMethod", OPT),
        "pad": (4, "uint32", OPT),
        "pad_h": (9, "uint32", OPT),
        "pad_w": (10, "uint32", OPT),
        "kernel_size": (2, "uint32", OPT),
        "kernel_h": (5, "uint32", OPT),
        "kernel_w": (6, "uint32", OPT),
        "stride": (3, "uint32", OPT),
        "stride_h": (7, "uint32", OPT),
        "stride_w": (8, "uint32", OPT),
        "engine": (11, "enum:Engine", OPT),
        "global_pooling": (12, "bool", OPT),
        "round_mode": (13, "enum:RoundMode", OPT),
    },
    "PermuteParameter": {
        "order": (1, "uint32", REP),
    },
    "PowerParameter": {
        "power": (1, "float", OPT),
        "scale": (2, "float", OPT),
        "shift": (3, "float", OPT),
    },
    "ReLUParameter": {
        "negative_slope": (1, "float", OPT),
        "engine": (2, "enum:Engine", OPT),
    },
    "ReshapeParameter": {
        "shape": (1, "BlobShape", OPT),
        "axis": (2, "int32", OPT),
        "num_axes": (3, "int32", OPT),
    },
    "ScaleParameter": {
        "axis": (1, "int32", OPT),
        "num_axes": (2, "int32", OPT),
        "bias_term": (4, "bool", OPT),
    },
    "SigmoidParameter": {
        "engine": (1, "enum:Engine", OPT),
    },
    "SliceParameter": {
        "axis": (3, "int32", OPT),
        "slice_point": (2, "uint32", REP),
        "slice_dim": (1, "uint32", OPT),
    },
}

_VARINT_TYPES = ("int32", "int64", "uint32", "bool")
_WIRE_VARINT, _WIRE_64, _WIRE_LEN, _WIRE_32 = 0, 1, 2, 5


class CaffeFormatError(ValueError):
    """A file that is not the Caffe message it claims to be."""


def _field(msg_type, name):
    try:
        return SCHEMA[msg_type][name]
    except KeyError:
        raise CaffeFormatError("%s has no field %r in our caffe.proto subset" % (msg_type, name))


def _is_message(ftype):
    return ftype in SCHEMA


def _wire_type(ftype):
    if _is_message(ftype) or ftype == "string":
        return _WIRE_LEN
    if ftype == "float":
        return _WIRE_32
    if ftype == "double":
        return _WIRE_64
    return _WIRE_VARINT  # ints, bool, enums


# ---------------------------------------------------------------- binary: encoding

def _varint(value):
    value = int(value)
    if value < 0:  # negative int32/int64 are sign-extended to 64 bits
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _scalar_payload(ftype, value):
    """Encoded value without its key (varint / fixed32 / fixed64 / length-delimited)."""
    if ftype == "float":
        return struct.pack("<f", float(value))
    if ftype == "double":
        return struct.pack("<d", float(value))
    if ftype == "string":
        raw = value.encode("utf-8")
        return _varint(len(raw)) + raw
    if ftype.startswith("enum:"):
        return _varint(_enum_number(ftype, value))
    if ftype == "bool":
        return _varint(1 if value else 0)
    return _varint(value)


def _enum_number(ftype, value):
    names = ENUMS[ftype[5:]]
    if isinstance(value, str):
        if value not in names:
            raise CaffeFormatError("%r is not a %s (one of %s)" % (value, ftype[5:], sorted(names)))
        return names[value]
    return int(value)


def _packed_payload(ftype, values):
    if ftype == "float":
        body = np.asarray(values, dtype="<f4").tobytes()
    elif ftype == "double":
        body = np.asarray(values, dtype="<f8").tobytes()
    else:
        body = b"".join(_varint(v) for v in values)
    return _varint(len(body)) + body


def encode(msg_type, msg):
    """Serialise dict `msg` as protobuf message `msg_type` (fields in schema order)."""
    out = bytearray()
    for name, value in _ordered_items(msg_type, msg):
        number, ftype, label = SCHEMA[msg_type][name]
        values = value if label in (REP, PACKED) else [value]
        if label == PACKED:
            if len(values):
                out += _varint(number << 3 | _WIRE_LEN) + _packed_payload(ftype, values)
            continue
        for v in values:
            out += _varint(number << 3 | _wire_type(ftype))
            if _is_message(ftype):
                body = encode(ftype, v)
                out += _varint(len(body)) + body
            else:
                out += _scalar_payload(ftype, v)
    return bytes(out)


def _ordered_items(msg_type, msg):
    if not isinstance(msg, dict):
        raise CaffeFormatError("%s must be a dict, got %s" % (msg_type, type(msg).__name__))
    for name in msg:
        _field(msg_type, name)  # reject unknown names early, with the message type in the error
    return [(name, msg[name]) for name in SCHEMA[msg_type] if name in msg]


# ---------------------------------------------------------------- binary: decoding

def _read_varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise CaffeFormatError("truncated varint at byte %d" % pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CaffeFormatError("varint longer than 10 bytes at byte %d" % pos)


def _signed(value, bits=64):
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def _decode_varint_value(ftype, raw):
    if ftype == "bool":
        return bool(raw)
    if ftype.startswith("enum:"):
        names = {v: k for k, v in ENUMS[ftype[5:]].items()}
        return names.get(raw, raw)
    if ftype in ("int32", "int64"):
        return _signed(raw)
    return raw


def decode(msg_type, data):
    """Parse protobuf bytes as `msg_type`; returns a dict (float arrays as numpy float32)."""
    data = memoryview(data)
    by_number = {spec[0]: (name,) + spec[1:] for name, spec in SCHEMA[msg_type].items()}
    msg = {}
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _WIRE_VARINT:
            raw, pos = _read_varint(data, pos)
            payload = raw
        elif wire == _WIRE_64:
            payload, pos = bytes(data[pos:pos + 8]), pos + 8
        elif wire == _WIRE_32:
            payload, pos = bytes(data[pos:pos + 4]), pos + 4
        elif wire == _WIRE_LEN:
            length, pos = _read_varint(data, pos)
            payload, pos = data[pos:pos + length], pos + length
        else:
            raise CaffeFormatError("unsupported wire type %d (field %d of %s)"
                                   % (wire, number, msg_type))
        if pos > end:
            raise CaffeFormatError("%s field %d runs past the end of the data" % (msg_type, number))
        if number not in by_number:
            continue
        name, ftype, label = by_number[number]
        values = _decode_payload(ftype, wire, payload, msg_type, name)
        if label == OPT:
            msg[name] = values[-1]
        else:
            msg.setdefault(name, []).extend(values)
    for name, (_, ftype, label) in SCHEMA[msg_type].items():
        if label != OPT and ftype in ("float", "double") and name in msg:
            msg[name] = np.asarray(msg[name], dtype=np.float32 if ftype == "float" else np.float64)
    return msg


def _decode_payload(ftype, wire, payload, msg_type, name):
    """List of values carried by one key (a packed run gives several)."""
    if _is_message(ftype):
        return [decode(ftype, payload)]
    if ftype == "string":
        return [bytes(payload).decode("utf-8")]
    if wire == _WIRE_LEN:  # packed repeated scalars (accepted for any numeric field)
        if ftype == "float":
            return list(np.frombuffer(bytes(payload), dtype="<f4"))
        if ftype == "double":
            return list(np.frombuffer(bytes(payload), dtype="<f8"))
        values, pos = [], 0
        while pos < len(payload):
            raw, pos = _read_varint(payload, pos)
            values.append(_decode_varint_value(ftype, raw))
        return values
    if ftype == "float" and wire == _WIRE_32:
        return [struct.unpack("<f", payload)[0]]
    if ftype == "double" and wire == _WIRE_64:
        return [struct.unpack("<d", payload)[0]]
    if wire == _WIRE_VARINT and ftype not in ("float", "double"):
        return [_decode_varint_value(ftype, payload)]
    raise CaffeFormatError("%s.%s: wire type %d does not fit a %s" % (msg_type, name, wire, ftype))


# ---------------------------------------------------------------- text format: writing

def _text_scalar(ftype, value):
    if ftype == "string":
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if ftype == "bool":
        return "true" if value else "false"
    if ftype.startswith("enum:"):
        return value if isinstance(value, str) else \
            {v: k for k, v in ENUMS[ftype[5:]].items()}[int(value)]
    if ftype in ("float", "double"):
        # shortest text that reads back to the same float32 / float64
        text = str(np.float32(value)) if ftype == "float" else repr(float(value))
        return text[:-2] if text.endswith(".0") else text
    return str(int(value))


def to_text(msg_type, msg, indent=0):
    """Protobuf text format of dict `msg` (what Caffe's .prototxt files are)."""
    pad = "  " * indent
    lines = []
    for name, value in _ordered_items(msg_type, msg):
        _, ftype, label = SCHEMA[msg_type][name]
        for v in (value if label in (REP, PACKED) else [value]):
            if _is_message(ftype):
                lines.append("%s%s {" % (pad, name))
                body = to_text(ftype, v, indent + 1)
                if body:
                    lines.append(body)
                lines.append(pad + "}")
            else:
                lines.append("%s%s: %s" % (pad, name, _text_scalar(ftype, v)))
    return "\n".join(lines)


# ---------------------------------------------------------------- text format: reading

_TOKEN = re.compile(r"""
    \s+ | \#[^\n]* |                              # space and comments (skipped)
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*') |
    (?P<punct>[{}:<>;,\[\]]) |
    (?P<word>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?(?![A-Za-z0-9_.])
            | [-+]?[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


def _tokens(text):
    pos = 0
    out = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise CaffeFormatError("unexpected character %r on line %d" % (text[pos], line))
        pos = m.end()
        kind = m.lastgroup
        if kind:
            out.append((kind, m.group(kind), text.count("\n", 0, m.start()) + 1))
    return out


def _unquote(token):
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _parse_scalar(ftype, kind, token, line, where):
    try:
        if ftype == "string":
            if kind != "str":
                raise ValueError
            return _unquote(token)
        if ftype == "bool":
            if token not in ("true", "false", "True", "False", "1", "0", "t", "f"):
                raise ValueError
            return token in ("true", "True", "1", "t")
        if ftype.startswith("enum:"):
            names = ENUMS[ftype[5:]]
            if token in names:
                return token
            number = int(token)
            return {v: k for k, v in names.items()}.get(number, number)
        if ftype in ("float", "double"):
            return float(token.rstrip("fF")) if token not in ("inf", "-inf", "nan") \
                else float(token)
        return int(token, 0)
    except ValueError:
        raise CaffeFormatError("line %d: %s expects a %s, got %s" % (line, where, ftype, token))


def parse_text(msg_type, text):
    """Parse protobuf text format into a dict; the inverse of `to_text`."""
    tokens = _tokens(text)
    msg, pos = _parse_fields(msg_type, tokens, 0, top=True)
    return msg


def _parse_fields(msg_type, tokens, pos, top=False):
    msg = {}
    while pos < len(tokens):
        kind, token, line = tokens[pos]
        if kind == "punct" and token in "}>":
            if top:
                raise CaffeFormatError("line %d: unmatched %r" % (line, token))
            return msg, pos + 1
        if kind != "word":
            raise CaffeFormatError("line %d: expected a field name, got %r" % (line, token))
        if token not in SCHEMA[msg_type]:
            raise CaffeFormatError("line %d: %s has no field %r in our caffe.proto subset"
                                   % (line, msg_type, token))
        _, ftype, label = SCHEMA[msg_type][token]
        name, pos = token, pos + 1
        if pos < len(tokens) and tokens[pos][1] == ":":
            pos += 1
        if pos >= len(tokens):
            raise CaffeFormatError("line %d: %s has no value" % (line, name))
        if _is_message(ftype):
            if tokens[pos][1] not in "{<":
                raise CaffeFormatError("line %d: %s expects { ... }" % (line, name))
            value, pos = _parse_fields(ftype, tokens, pos + 1)
        else:
            vkind, vtoken, vline = tokens[pos]
            value, pos = _parse_scalar(ftype, vkind, vtoken, vline, msg_type + "." + name), pos + 1
        if pos < len(tokens) and tokens[pos][1] in ";,":
            pos += 1
        if label == OPT:
            msg[name] = value
        else:
            msg.setdefault(name, []).append(value)
    if not top:
        raise CaffeFormatError("%s block is not closed before the end of the text" % msg_type)
    return msg, pos


# ---------------------------------------------------------------- helpers

def blob(array):
    """BlobProto dict for a numpy array (shape + float32 data)."""
    array = np.asarray(array, dtype=np.float32)
    return {"shape": {"dim": [int(d) for d in array.shape]}, "data": array.ravel()}


def blob_array(blob_msg):
    """numpy float32 array of a BlobProto dict (new-style shape or legacy num/channels/h/w)."""
    data = np.asarray(blob_msg.get("data", []), dtype=np.float32)
    if "shape" in blob_msg:
        shape = [int(d) for d in blob_msg["shape"].get("dim", [])]
    else:
        shape = [blob_msg.get(k, 1) for k in ("num", "channels", "height", "width")]
    if int(np.prod(shape)) != data.size:
        raise CaffeFormatError("blob of shape %s holds %d values" % (shape, data.size))
    return data.reshape(shape)


def read_net(prototxt_path, caffemodel_path=None):
    """NetParameter dict from a .prototxt, with the blobs of a .caffemodel (matched by layer
    name) attached when given."""
    with open(prototxt_path, "r", encoding="utf-8") as f:
        net = parse_text("NetParameter", f.read())
    if caffemodel_path is not None:
        with open(caffemodel_path, "rb") as f:
            weights = decode("NetParameter", f.read())
        blobs = {l.get("name"): l.get("blobs", []) for l in weights.get("layer", [])}
        for layer in net.get("layer", []):
            if blobs.get(layer.get("name")):
                layer["blobs"] = blobs[layer["name"]]
    return net
