"""Write the person networks as Caffe files for HiLens' `omg`, inside the HiLens Caffe operator
boundary (../shared/reference/hilens-docs/userguide/Caffe算子边界.md; proved by
tools/model/check_caffe_boundary):

    model/person_detector.prototxt + .caffemodel    (outputs boxes 1x2254x12, logits 1x2254x1)
    model/person_segmenter.prototxt + .caffemodel   (alpha 1x1x256x256, landmarks 1x195x1x1,
                                                     presence 1x1x1x1, aux_heatmap 1x2x64x64)

The files are not committed (28 MB; this writes them in seconds from the MediaPipe wheel, which
tools/model/fetch_mediapipe.py fetches); convert_om.sh says so when they are missing.

The same values as model/person_*.onnx (tools/model/export_pose_onnx.py); how each piece of
tools/model/pose_nets.py becomes allowed layers:
- conv / depthwise conv -> Convolution (group = channels); explicit symmetric pads go into
  `pad`; TensorFlow's asymmetric SAME pads (two 3x3/2 convs of the landmark regression path)
  become the larger pad on both sides plus zero taps in front (export_caffe.emit_conv).
- ReLU6 (no ReLU6/Clip in the table) -> ReLU(x) and ReLU(Scale(x, +(-6))) joined by Eltwise SUM
  with coeff (1, -1): relu(x) - relu(x - 6) = min(max(x, 0), 6).
- residual ADD -> Eltwise SUM; MAX_POOL 2x2/2 -> Pooling MAX; LOGISTIC -> Sigmoid.
- x2 bilinear upsample, half-pixel centres -> edge rows/columns replicated (Slice + Concat),
  then a fixed Deconvolution (kernel 4, stride 2, pad 3, group 1: the table allows no other)
  whose C x C weights are diagonal with taps (0.25, 0.75, 0.75, 0.25) in each axis. Where a 1x1
  conv follows the upsample (the detector's top-down path) it runs first, on the smaller map:
  a 1x1 conv and the upsample commute, and the ReLU6 comes after both.
- DEPTH_TO_SPACE (block 2, TensorFlow's DCR order) -> Reshape [1, 2, 2, C*H*W], Permute
  (0, 1, 3, 2), Reshape [1, 2, C*H, 2W], Permute (0, 2, 1, 3), Reshape [1, C, 2H, 2W]: plain
  4-D reshapes and transposes with batch 1 (a fixed Deconvolution would need 1152 x 288 x 4
  weights there, past the table's Deconvolution buffer limit).
- the detector's NHWC reshapes into anchor order -> Permute (0, 2, 3, 1) + Reshape
  [1, H*W*A, values], then Concat over the three levels (axis 1).

CLI:
  python -m tools.model.export_pose_caffe              # writes the four files, checks them
  python -m tools.model.export_pose_caffe --verify     # OpenCV's Caffe importer vs ONNX Runtime
                                                       # on the fixture frames (real pictures)
"""
import argparse
import json
import pathlib
import sys

import numpy as np

from tools import paths
from tools.model import caffe_pb
from tools.model.check_caffe_boundary import check_net
from tools.model.export_caffe import (
    BILINEAR_X2_TAPS,
    CaffeNetBuilder,
    emit_conv,
    replicate_pad1,
    run_opencv_caffe,
)

MODEL_DIR = paths.REPO / "model"
OUTPUTS = {"person_detector": ["boxes", "logits"],
           "person_segmenter": ["alpha", "landmarks", "presence", "aux_heatmap"]}


# ---------------------------------------------------------------- layers

def emit_relu6(b, name, x):
    pos = b.relu(name + "/pos", x)
    over = b.relu(name + "/over6", b.affine(name + "/minus6", x, 1.0, -6.0))
    return b.eltwise(name, [pos, over], "SUM", (1.0, -1.0))


def emit_layer(b, name, x, layer, act=True):
    """A pose_nets.ConvAct: Convolution, then its ReLU6 unless act=False."""
    y = emit_conv(b, name, x, layer)
    return emit_relu6(b, name + "/relu6", y) if act and layer.act == "relu6" else y


def emit_upsample2(b, name, x):
    """F.interpolate(x, scale_factor=2, bilinear, align_corners=False) as a fixed deconv."""
    c = b.shapes[x][1]
    x = replicate_pad1(b, name + "/pad_w", x, 3)
    x = replicate_pad1(b, name + "/pad_h", x, 2)
    weight = np.zeros((c, c, 4, 4), np.float32)
    weight[np.arange(c), np.arange(c)] = np.outer(BILINEAR_X2_TAPS, BILINEAR_X2_TAPS)
    return b.deconv(name, x, weight, None, (2, 2), (3, 3))


def emit_depth_to_space(b, name, x):
    n, c, h, w = b.shapes[x]
    if n != 1 or c % 4:
        raise ValueError("%s: DEPTH_TO_SPACE of %s" % (name, b.shapes[x]))
    co = c // 4

    def reshape(suffix, src, dims):
        return b.add(name + suffix, "Reshape", [src], "reshape_param", {"shape": {"dim": dims}})

    def permute(suffix, src, order):
        return b.add(name + suffix, "Permute", [src], "permute_param", {"order": order})

    y = reshape("/split_ij", x, [1, 2, 2, co * h * w])            # [i][j][c h w]
    y = permute("/j_last", y, [0, 1, 3, 2])                       # [i][c h w][j]
    y = reshape("/merge_wj", y, [1, 2, co * h, 2 * w])            # [i][c h][w j]
    y = permute("/i_inside", y, [0, 2, 1, 3])                     # [c h][i][w j]
    return reshape("", y, [1, co, 2 * h, 2 * w])                  # [c][h i][w j]


def emit_block(b, name, x, block):
    y = x
    if block.expand is not None:
        y = emit_layer(b, name + "/expand", y, block.expand)
    y = emit_layer(b, name + "/depthwise", y, block.depthwise)
    y = emit_layer(b, name + "/project", y, block.project)
    return b.eltwise(name + "/residual", [x, y], "SUM") if block.residual else y


def emit_lateral(b, name, x, lateral):
    return emit_layer(b, name + "/conv", emit_layer(b, name + "/depthwise", x,
                                                    lateral.depthwise), lateral.conv)


def emit_refine(b, name, x, unit):
    y = emit_lateral(b, name, x, unit)
    return emit_relu6(b, name + "/relu6", b.eltwise(name + "/sum", [x, y], "SUM"))


def emit_up_conv(b, name, x, conv):
    """relu6(conv1x1(up(x))) computed as relu6(up(conv1x1(x)))."""
    y = emit_upsample2(b, name + "/up", emit_layer(b, name + "/conv", x, conv, act=False))
    return emit_relu6(b, name + "/relu6", y)


def _anchor_major(b, name, x, values):
    _, c, h, w = b.shapes[x]
    y = b.add(name + "/nhwc", "Permute", [x], "permute_param", {"order": [0, 2, 3, 1]})
    return b.add(name, "Reshape", [y], "reshape_param",
                 {"shape": {"dim": [1, h * w * c // values, values]}})


# ---------------------------------------------------------------- networks

def build_detector(net, name="person_detector"):
    from tools.model.pose_nets import C3_BLOCK, C4_BLOCK
    b = CaffeNetBuilder(name)
    x = emit_layer(b, "stem", b.input("image", (1, 3) + tuple(net.input_size)), net.stem)
    for i, block in enumerate(net.blocks):
        x = emit_block(b, "block%d" % i, x, block)
        if i == C3_BLOCK:
            c3 = x
        elif i == C4_BLOCK:
            c4 = x
    top = emit_layer(b, "top/depthwise", emit_layer(b, "top/expand", x, net.top_expand),
                     net.top_dw)
    p4 = b.eltwise("p4/sum", [emit_lateral(b, "lateral4", c4, net.lateral4),
                              emit_up_conv(b, "up4", top, net.up4)], "SUM")
    for i, unit in enumerate(net.refine4):
        p4 = emit_refine(b, "refine4_%d" % i, p4, unit)
    p3 = b.eltwise("p3/sum", [emit_lateral(b, "lateral3", c3, net.lateral3),
                              emit_up_conv(b, "up3", p4, net.up3)], "SUM")
    for i, unit in enumerate(net.refine3):
        p3 = emit_refine(b, "refine3_%d" % i, p3, unit)
    logits, boxes = [], []
    for i, (head, feature) in enumerate(zip(net.heads, (p3, p4, top))):
        n = "head%d" % i
        y = emit_depth_to_space(b, n + "/d2s", feature)
        cls = emit_layer(b, n + "/cls", emit_layer(b, n + "/cls_dw", y, head.cls_dw), head.cls)
        reg = emit_layer(b, n + "/reg", emit_layer(b, n + "/reg_dw", y, head.reg_dw), head.reg)
        logits.append(_anchor_major(b, n + "/logits", cls, 1))
        boxes.append(_anchor_major(b, n + "/boxes", reg, 12))
    b.concat("boxes", boxes, axis=1)
    b.concat("logits", logits, axis=1)
    return b


def build_segmenter(seg, name="person_segmenter"):
    from tools.model.pose_nets import LANDMARK_SKIPS
    net = seg.full
    b = CaffeNetBuilder(name)
    x = emit_layer(b, "stem", b.input("image", (1, 3) + tuple(net.input_size)), net.stem)
    taps = {i: k for k, (i, _, _) in enumerate(LANDMARK_SKIPS)}
    skips = [None] * len(LANDMARK_SKIPS)
    for i, block in enumerate(net.blocks):
        x = emit_block(b, "block%d" % i, x, block)
        if i in taps:
            skips[taps[i]] = emit_lateral(b, "skip%d" % taps[i], x, net.skips[taps[i]])
    top = emit_layer(b, "top/depthwise", emit_layer(b, "top/expand", x, net.top_expand),
                     net.top_dw)
    # decoder: heatmap feature and segmentation
    s128, s64, s32, s16 = skips
    y = emit_lateral(b, "dec", top, net.dec)
    for i, skip in enumerate((s16, s32, s64)):
        y = b.eltwise("dec/up%d/sum" % i, [emit_upsample2(b, "dec/up%d" % i, y), skip], "SUM")
    decoded = y
    z = b.eltwise("seg/up128/sum", [emit_upsample2(b, "seg/up128", emit_lateral(
        b, "seg/reduce", decoded, net.seg_reduce)), s128], "SUM")
    for i, unit in enumerate(net.seg_refine128):
        z = emit_refine(b, "seg/refine128_%d" % i, z, unit)
    z = emit_upsample2(b, "seg/up256", z)
    for i, unit in enumerate(net.seg_refine256):
        z = emit_refine(b, "seg/refine256_%d" % i, z, unit)
    b.sigmoid("alpha", emit_layer(b, "seg/head", z, net.seg_head))
    emit_layer(b, "aux_heatmap", decoded, seg.aux_heatmap)
    # regression: 8x8 -> 4x4 -> 2x2 -> landmarks, presence
    r = emit_lateral(b, "reg", top, net.reg_in)
    for level, (down, refines) in (("4", (net.down4, net.refine4)),
                                   ("2", (net.down2, net.refine2))):
        pooled = b.add("down%s/maxpool" % level, "Pooling", [r], "pooling_param",
                       {"pool": "MAX", "kernel_size": 2, "stride": 2})
        conv = emit_layer(b, "down%s/conv" % level,
                          emit_layer(b, "down%s/depthwise" % level, r, down[0]), down[1])
        r = emit_relu6(b, "down%s/relu6" % level,
                       b.eltwise("down%s/sum" % level, [pooled, conv], "SUM"))
        for i, unit in enumerate(refines):
            r = emit_refine(b, "refine%s_%d" % (level, i), r, unit)
    emit_layer(b, "landmarks", r, net.landmarks)
    b.sigmoid("presence", emit_layer(b, "presence/logit", r, net.presence))
    return b


def write(builder, basename):
    proto, weights = str(basename) + ".prototxt", str(basename) + ".caffemodel"
    pathlib.Path(proto).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(proto).write_text(builder.prototxt(), encoding="utf-8")
    pathlib.Path(weights).write_bytes(builder.caffemodel())
    return proto, weights


def export_all(out_dir=MODEL_DIR):
    """Write both models from the MediaPipe weights; returns {stem: (prototxt, caffemodel)}."""
    from tools.model.pose_import import load_person_detector, load_person_segmenter
    built = {"person_detector": build_detector(load_person_detector()),
             "person_segmenter": build_segmenter(load_person_segmenter())}
    return {stem: write(b, pathlib.Path(out_dir) / stem) for stem, b in built.items()}


# ---------------------------------------------------------------- verification

def verification_inputs(stem):
    """NCHW inputs from the fixture frames: the letterboxed frames for the detector, the crops
    at MediaPipe's ROIs for the segmenter (the pictures the networks really see)."""
    from tools.model import pose_check, pose_frames, pose_reference
    from utils import person_roi as pr
    feeds = []
    for name in pose_frames.FRAMES:
        fx = pose_check.load_fixture(name)
        frame = pose_check.fixture_frame(fx, name)
        if stem == "person_detector":
            tensor, _ = pose_reference.detector_input(frame)
        elif "roi_detection" in fx:
            tensor, _ = pose_reference.landmark_input(frame,
                                                      pr.Roi(*fx["roi_detection"].tolist()))
        else:
            continue
        feeds.append((name, np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))))
    return feeds


def compare_with_onnx(stem, caffe_dir=MODEL_DIR, onnx_dir=MODEL_DIR):
    """({output: max abs difference}, frames) of OpenCV running caffe_dir/<stem>.prototxt and
    .caffemodel against ONNX Runtime running onnx_dir/<stem>.onnx, over the fixture frames."""
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()
    caffe_dir = pathlib.Path(caffe_dir)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(pathlib.Path(onnx_dir) / (stem + ".onnx")), opts,
                                providers=["CPUExecutionProvider"])
    names = OUTPUTS[stem]
    feeds = verification_inputs(stem)
    caffe = run_opencv_caffe(caffe_dir / (stem + ".prototxt"), caffe_dir / (stem + ".caffemodel"),
                             [{"image": x} for _, x in feeds], output=",".join(names))
    worst = dict.fromkeys(names, 0.0)
    for (_, x), got in zip(feeds, caffe):
        want = sess.run(names, {"image": x})
        for name, g, w in zip(names, got, want):
            if g.size != w.size:
                raise ValueError("%s: Caffe gives %s values, ONNX %s" % (name, g.shape, w.shape))
            worst[name] = max(worst[name], float(np.abs(g.reshape(w.shape) - w).max()))
    return worst, len(feeds)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=str(MODEL_DIR), help="where the Caffe files go")
    ap.add_argument("--onnx-dir", default=str(MODEL_DIR), help="the ONNX files for --verify")
    ap.add_argument("--verify", action="store_true",
                    help="only compare the existing Caffe files with the ONNX files (OpenCV 4)")
    args = ap.parse_args(argv)
    try:
        if args.verify:
            for stem in OUTPUTS:
                worst, frames = compare_with_onnx(stem, args.out_dir, args.onnx_dir)
                print(json.dumps({"model": stem, "frames": frames, "max_abs_diff": worst}))
            return 0
        failed = False
        for stem, (proto, weights) in export_all(args.out_dir).items():
            _, violations, census, _, outputs = check_net(caffe_pb.read_net(proto, weights))
            print("wrote %s (%d bytes) and %s (%d bytes): %d layers (%s); outputs %s" % (
                proto, pathlib.Path(proto).stat().st_size, weights,
                pathlib.Path(weights).stat().st_size, sum(census.values()),
                ", ".join("%s %d" % kv for kv in sorted(census.items())),
                ", ".join("%s %s" % (n, "x".join(map(str, s))) for n, s in outputs)))
            if violations:
                failed = True
                print("boundary violations:\n  " + "\n  ".join(violations), file=sys.stderr)
        return 1 if failed else 0
    except (OSError, ValueError, RuntimeError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
