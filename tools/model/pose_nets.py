"""MediaPipe's person pipeline written out in PyTorch: the pose detector and the full-body pose
landmark network, whose segmentation output is the skill's person segmenter.

Both architectures were read from the tflite graphs of mediapipe 0.10.14
(`mediapipe/modules/pose_detection/pose_detection.tflite`,
`mediapipe/modules/pose_landmark/pose_landmark_full.tflite`; `python -m tools.model.tflite_reader`
prints them). Tensors are NCHW here; the tflite graphs are NHWC, so every output is returned in
the layout the skill decodes (documented per output below) and the importer checks each layer
(tools/model/pose_import.py).

Facts that matter for re-implementations (ONNX, Caffe):
- Every activation is ReLU6 (tflite fused RELU6), applied after a conv or after a residual ADD.
- Strided convs get explicit symmetric zero padding (a tflite PAD op then a VALID conv: 1 for
  3x3, 2 for 5x5), except the two 3x3/2 depthwise convs of the landmark regression path (8->4,
  4->2), which use TensorFlow "SAME" padding: (0, 1), asymmetric. Stride-1 convs pad k//2.
- Upsampling is RESIZE_BILINEAR x2 with align_corners=False, half_pixel_centers=True, i.e.
  F.interpolate(bilinear, align_corners=False).
- The detector's heads read DEPTH_TO_SPACE(block 2) of a feature map in TensorFlow's DCR
  order: out[c, 2h+i, 2w+j] = in[(2i+j) * C + c, h, w] (not torch's pixel_shuffle, which is CRD).
- Landmark MAX_POOL_2D is 2x2/2 VALID; the presence head ends in LOGISTIC inside the graph.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

DETECTOR_INPUT = (224, 224)
LANDMARK_INPUT = (256, 256)
NUM_ANCHORS = 2254           # 28*28*2 + 14*14*2 + 7*7*6
NUM_LANDMARKS = 39           # 33 pose landmarks + 6 auxiliary (33, 34: the tracking ROI points)
AUX_HEATMAP_CHANNELS = (33, 34)  # heatmap channels of the two ROI landmarks

Pads = Tuple[int, int, int, int]  # (top, bottom, left, right)


def same_pads(size: int, kernel: int, stride: int) -> Tuple[int, int]:
    """(before, after) padding of TensorFlow "SAME" for one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvAct(nn.Conv2d):
    """Conv2d with explicit zero padding (top, bottom, left, right) and an optional ReLU6.

    Symmetric padding goes into the conv; asymmetric padding is an explicit F.pad, which the
    ONNX export folds back into the Conv's `pads`. `act` is "relu6" or None."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                 pads: Optional[Pads] = None, groups: int = 1, act: Optional[str] = "relu6"):
        if pads is None:
            pads = (kernel // 2,) * 4
        symmetric = pads[0] == pads[1] and pads[2] == pads[3]
        super().__init__(in_ch, out_ch, kernel, stride,
                         padding=(pads[0], pads[2]) if symmetric else 0, groups=groups)
        self.pads = tuple(int(p) for p in pads)
        self.extra_pad = None if symmetric else (pads[2], pads[3], pads[0], pads[1])
        if act not in ("relu6", None):
            raise ValueError("unknown activation %r" % act)
        self.act = act

    @property
    def kind(self) -> str:
        return "depthwise" if self.groups > 1 else "conv"

    def forward(self, x):
        if self.extra_pad is not None:
            x = F.pad(x, self.extra_pad)
        x = super().forward(x)
        return F.relu6(x) if self.act == "relu6" else x


def dw(ch: int, kernel: int = 3, stride: int = 1, pads: Optional[Pads] = None,
       act: Optional[str] = "relu6") -> ConvAct:
    return ConvAct(ch, ch, kernel, stride, pads, groups=ch, act=act)


def pw(in_ch: int, out_ch: int, act: Optional[str] = "relu6") -> ConvAct:
    return ConvAct(in_ch, out_ch, 1, act=act)


def upsample2(x):
    """tflite RESIZE_BILINEAR x2, align_corners=False, half_pixel_centers=True."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class _DepthToSpaceDCR(torch.autograd.Function):
    """TensorFlow's DEPTH_TO_SPACE (DCR order), exported as one ONNX DepthToSpace node."""

    @staticmethod
    def forward(ctx, x, block):
        n, c, h, w = x.shape
        out = c // (block * block)
        return (x.reshape(n, block, block, out, h, w).permute(0, 3, 4, 1, 5, 2)
                .reshape(n, out, h * block, w * block))

    @staticmethod
    def symbolic(g, x, block):
        return g.op("DepthToSpace", x, blocksize_i=block, mode_s="DCR")


def depth_to_space(x, block: int = 2):
    return _DepthToSpaceDCR.apply(x, block)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + ReLU6 (absent when expand is None), kxk depthwise
    (stride, explicit pads) + ReLU6, linear 1x1 project; identity shortcut when it fits."""

    def __init__(self, in_ch: int, exp_ch: Optional[int], out_ch: int, kernel: int,
                 stride: int, pads: Optional[Pads] = None):
        super().__init__()
        mid = exp_ch if exp_ch is not None else in_ch
        self.expand = pw(in_ch, exp_ch) if exp_ch is not None else None
        self.depthwise = dw(mid, kernel, stride, pads)
        self.project = pw(mid, out_ch, act=None)
        self.residual = stride == 1 and in_ch == out_ch

    def layers(self) -> List[ConvAct]:
        return ([self.expand] if self.expand is not None else []) + [self.depthwise,
                                                                     self.project]

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class Lateral(nn.Module):
    """Skip connection into the decoder: 3x3 depthwise then 1x1 conv + ReLU6."""

    def __init__(self, in_ch: int, out_ch: int, dw_act: Optional[str]):
        super().__init__()
        self.depthwise = dw(in_ch, act=dw_act)
        self.conv = pw(in_ch, out_ch)

    def layers(self) -> List[ConvAct]:
        return [self.depthwise, self.conv]

    def forward(self, x):
        return self.conv(self.depthwise(x))


class Refine(nn.Module):
    """relu6(x + conv1x1(depthwise3x3(x))): the residual units of both decoders."""

    def __init__(self, ch: int, dw_act: Optional[str]):
        super().__init__()
        self.depthwise = dw(ch, act=dw_act)
        self.conv = pw(ch, ch, act=None)

    def layers(self) -> List[ConvAct]:
        return [self.depthwise, self.conv]

    def forward(self, x):
        return F.relu6(x + self.conv(self.depthwise(x)))


def _backbone_block(spec) -> InvertedResidual:
    in_ch, exp_ch, out_ch, k, s = spec
    pads = (k // 2,) * 4  # both graphs pad strided convs symmetrically (PAD + VALID)
    return InvertedResidual(in_ch, exp_ch, out_ch, k, s, pads)


# ---------------------------------------------------------------------------- detector

# (in, expanded or None, out, kernel, stride); the stem is a 3x3/2 conv 3 -> 24 + ReLU6.
DETECTOR_BLOCKS = (
    (24, None, 16, 3, 1),
    (16, 64, 24, 3, 2), (24, 144, 24, 3, 1),                          # 56x56
    (24, 144, 40, 5, 2), (40, 240, 40, 5, 1),                         # 28x28 -> C3
    (40, 240, 80, 3, 2), (80, 480, 80, 3, 1), (80, 480, 80, 3, 1),    # 14x14
    (80, 480, 112, 5, 1), (112, 672, 112, 5, 1), (112, 672, 112, 5, 1),  # -> C4
    (112, 672, 192, 5, 2), (192, 1152, 192, 5, 1), (192, 1152, 192, 5, 1),
    (192, 1152, 192, 5, 1),                                           # 7x7
)
C3_BLOCK, C4_BLOCK = 4, 10
# per head level: (feature channels before DEPTH_TO_SPACE, anchors per cell, grid size)
DETECTOR_LEVELS = ((96, 2, 28), (192, 2, 14), (1152, 6, 7))


class DetectorHead(nn.Module):
    """One pyramid level's outputs from DEPTH_TO_SPACE(feature): 3x3/2 depthwise (pad 1) then
    1x1 conv, once for the score logits and once for the 12 box/keypoint regressors."""

    def __init__(self, ch: int, anchors: int):
        super().__init__()
        self.anchors = anchors
        self.cls_dw = dw(ch, 3, 2, act=None)
        self.cls = pw(ch, anchors, act=None)
        self.reg_dw = dw(ch, 3, 2, act=None)
        self.reg = pw(ch, anchors * 12, act=None)

    def layers(self) -> List[ConvAct]:
        return [self.cls_dw, self.cls, self.reg_dw, self.reg]

    def forward(self, x):
        x = depth_to_space(x, 2)
        return self.cls(self.cls_dw(x)), self.reg(self.reg_dw(x))


def _anchor_major(x, anchors: int, values: int):
    """N x (A*values) x H x W -> N x (H*W*A) x values, tflite's NHWC reshape order. The sizes
    are Python ints, so the ONNX export gets a constant Reshape."""
    cells = int(x.shape[2]) * int(x.shape[3])
    return x.permute(0, 2, 3, 1).reshape(-1, cells * anchors, values)


class PersonDetectorNet(nn.Module):
    """forward(image) -> (boxes, logits).

    image: N x 3 x 224 x 224, RGB in [-1, 1] (value / 127.5 - 1), the frame letterboxed with
    black (-1) borders (MediaPipe's ImageToTensorCalculator, keep_aspect_ratio, BORDER_ZERO).
    boxes: N x 2254 x 12 raw regressors per SSD anchor (x, y, w, h of the box, then x, y of four
    keypoints, in pixels of the 224 input relative to the anchor centre); logits: N x 2254 x 1
    score logits. Decoding (anchors, sigmoid, NMS) is utils/person_detect.py.
    """

    input_size = DETECTOR_INPUT

    def __init__(self):
        super().__init__()
        self.stem = ConvAct(3, 24, 3, 2, (1, 1, 1, 1))
        self.blocks = nn.ModuleList(_backbone_block(b) for b in DETECTOR_BLOCKS)
        self.top_expand = pw(192, 1152)
        self.top_dw = dw(1152)
        self.lateral3 = Lateral(40, 96, dw_act=None)
        self.lateral4 = Lateral(112, 192, dw_act=None)
        self.up4 = pw(1152, 192)
        self.refine4 = nn.ModuleList(Refine(192, dw_act=None) for _ in range(2))
        self.up3 = pw(192, 96)
        self.refine3 = nn.ModuleList(Refine(96, dw_act=None) for _ in range(2))
        self.heads = nn.ModuleList(DetectorHead(ch // 4, a) for ch, a, _ in DETECTOR_LEVELS)

    def forward(self, image):
        if tuple(image.shape[1:]) != (3,) + DETECTOR_INPUT:
            raise ValueError("image must be N x 3 x %d x %d, got %s"
                             % (DETECTOR_INPUT + (tuple(image.shape),)))
        x = self.stem(image)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == C3_BLOCK:
                c3 = x
            elif i == C4_BLOCK:
                c4 = x
        top = self.top_dw(self.top_expand(x))                               # 7x7x1152
        p4 = self.lateral4(c4) + self.up4(upsample2(top))                   # 14x14x192
        for unit in self.refine4:
            p4 = unit(p4)
        p3 = self.lateral3(c3) + self.up3(upsample2(p4))                    # 28x28x96
        for unit in self.refine3:
            p3 = unit(p3)
        logits, boxes = [], []
        for head, feature in zip(self.heads, (p3, p4, top)):
            cls, reg = head(feature)
            logits.append(_anchor_major(cls, head.anchors, 1))
            boxes.append(_anchor_major(reg, head.anchors, 12))
        return torch.cat(boxes, dim=1), torch.cat(logits, dim=1)

    def tflite_weight_order(self) -> List[ConvAct]:
        """Every weighted layer in the order the tflite graph runs it (the importer zips this
        with the file's CONV_2D / DEPTHWISE_CONV_2D ops and checks each pair)."""
        order = [self.stem]
        for i, block in enumerate(self.blocks):
            layers = block.layers()
            if i == C3_BLOCK + 1:    # the graph branches the lateral off C3 after this expand
                layers = layers[:1] + self.lateral3.layers() + layers[1:]
            if i == C4_BLOCK + 1:
                layers = layers[:1] + self.lateral4.layers() + layers[1:]
            order += layers
        order += [self.top_expand, self.top_dw, self.up4]
        for unit in self.refine4:
            order += unit.layers()
        order.append(self.up3)
        for unit in self.refine3:
            order += unit.layers()
        for head in self.heads:
            order += head.layers()
        return order


# ---------------------------------------------------------------------------- landmarks

# (in, expanded or None, out, kernel, stride); the stem is a 3x3/2 conv 3 -> 24 + ReLU6.
LANDMARK_BLOCKS = (
    (24, None, 16, 3, 1),                                             # 128 -> skip128
    (16, 64, 24, 3, 2), (24, 144, 24, 3, 1),                          # 64 -> skip64
    (24, 144, 32, 5, 2), (32, 192, 32, 5, 1),                         # 32 -> skip32
    (32, 192, 64, 3, 2), (64, 384, 64, 3, 1), (64, 384, 64, 3, 1),    # 16
    (64, 384, 88, 5, 1), (88, 528, 88, 5, 1), (88, 528, 88, 5, 1),    # -> skip16
    (88, 528, 144, 5, 2), (144, 864, 144, 5, 1), (144, 864, 144, 5, 1),
    (144, 864, 144, 5, 1),                                            # 8
)
# backbone block index whose output feeds each skip, and the skip's (in, out) channels
LANDMARK_SKIPS = ((0, 16, 8), (2, 24, 48), (4, 32, 48), (10, 88, 48))


class PersonLandmarkNet(nn.Module):
    """forward(image) -> (landmarks, presence, segmentation, heatmap, world).

    image: N x 3 x 256 x 256, RGB in [0, 1] (value / 255), a crop around one person
    (MediaPipe: the rotated ROI warped to 256x256, keep_aspect_ratio, border replicated).
    landmarks: N x 195 = 39 x (x, y, z, visibility logit, presence logit), x/y in pixels of
    the 256 crop; presence: N x 1, probability that a person is in the crop (sigmoid inside);
    segmentation: N x 1 x 256 x 256 person logits; heatmap: N x 39 x 64 x 64 logits
    (MediaPipe refines x/y with it); world: N x 117 = 39 x (x, y, z) in metres.
    """

    input_size = LANDMARK_INPUT

    def __init__(self):
        super().__init__()
        self.stem = ConvAct(3, 24, 3, 2, (1, 1, 1, 1))
        self.blocks = nn.ModuleList(_backbone_block(b) for b in LANDMARK_BLOCKS)
        self.skips = nn.ModuleList(Lateral(i, o, dw_act="relu6") for _, i, o in LANDMARK_SKIPS)
        self.top_expand = pw(144, 864)
        self.top_dw = dw(864)
        # heatmap / segmentation decoder
        self.dec = Lateral(864, 48, dw_act="relu6")
        self.heatmap = pw(48, NUM_LANDMARKS, act=None)
        self.seg_reduce = Lateral(48, 8, dw_act="relu6")
        self.seg_refine128 = nn.ModuleList(Refine(8, dw_act="relu6") for _ in range(2))
        self.seg_refine256 = nn.ModuleList(Refine(8, dw_act="relu6") for _ in range(2))
        self.seg_head = ConvAct(8, 1, 3, act=None)
        # regression path: 8x8 -> 4x4 -> 2x2 -> 1x1
        self.reg_in = Lateral(864, 288, dw_act="relu6")
        self.down4 = nn.ModuleList([dw(288, 3, 2, (0, 1, 0, 1)), pw(288, 288, act=None)])
        self.refine4 = nn.ModuleList(Refine(288, dw_act="relu6") for _ in range(4))
        self.down2 = nn.ModuleList([dw(288, 3, 2, (0, 1, 0, 1)), pw(288, 288, act=None)])
        self.refine2 = nn.ModuleList(Refine(288, dw_act="relu6") for _ in range(5))
        self.landmarks = ConvAct(288, NUM_LANDMARKS * 5, 2, pads=(0, 0, 0, 0), act=None)
        self.world = ConvAct(288, 117, 2, pads=(0, 0, 0, 0), act=None)
        self.presence = ConvAct(288, 1, 2, pads=(0, 0, 0, 0), act=None)

    def features(self, image):
        """(8x8x864 top feature, the four skips at 128, 64, 32, 16)."""
        if tuple(image.shape[1:]) != (3,) + LANDMARK_INPUT:
            raise ValueError("image must be N x 3 x %d x %d, got %s"
                             % (LANDMARK_INPUT + (tuple(image.shape),)))
        x = self.stem(image)
        taps = {i: k for k, (i, _, _) in enumerate(LANDMARK_SKIPS)}
        skips = [None] * len(LANDMARK_SKIPS)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in taps:
                skips[taps[i]] = self.skips[taps[i]](x)
        return self.top_dw(self.top_expand(x)), skips

    def decoder(self, top, skips):
        """(64x64x48 decoder feature, 256x256 segmentation logits)."""
        s128, s64, s32, s16 = skips
        x = upsample2(self.dec(top)) + s16
        x = upsample2(x) + s32
        x = upsample2(x) + s64                                              # 64x64x48
        y = upsample2(self.seg_reduce(x)) + s128                            # 128x128x8
        for unit in self.seg_refine128:
            y = unit(y)
        y = upsample2(y)
        for unit in self.seg_refine256:
            y = unit(y)
        return x, self.seg_head(y)

    def regression(self, top):
        x = self.reg_in(top)                                                # 8x8x288
        for down, refines in ((self.down4, self.refine4), (self.down2, self.refine2)):
            x = F.relu6(F.max_pool2d(x, 2) + down[1](down[0](x)))
            for unit in refines:
                x = unit(x)
        return x                                                            # 2x2x288

    def forward(self, image):
        top, skips = self.features(image)
        decoded, segmentation = self.decoder(top, skips)
        r = self.regression(top)
        return (torch.flatten(self.landmarks(r), 1),
                torch.flatten(torch.sigmoid(self.presence(r)), 1),
                segmentation, self.heatmap(decoded), torch.flatten(self.world(r), 1))

    def tflite_weight_order(self) -> List[ConvAct]:
        """Every weighted layer in the order the tflite graph runs it."""
        order = [self.stem]
        taps = {i: k for k, (i, _, _) in enumerate(LANDMARK_SKIPS)}
        for i, block in enumerate(self.blocks):
            layers = block.layers()
            # the graph computes each skip right after the next block's first layer
            if i - 1 in taps:
                layers = layers[:1] + self.skips[taps[i - 1]].layers() + layers[1:]
            order += layers
        order += [self.top_expand, self.top_dw]
        order += self.dec.layers() + self.seg_reduce.layers()
        for unit in list(self.seg_refine128) + list(self.seg_refine256):
            order += unit.layers()
        order += [self.seg_head, self.heatmap]
        order += self.reg_in.layers() + list(self.down4)
        for unit in self.refine4:
            order += unit.layers()
        order += list(self.down2)
        for unit in self.refine2:
            order += unit.layers()
        order += [self.landmarks, self.world, self.presence]
        return order


class PersonSegmenterNet(nn.Module):
    """The shipped form of PersonLandmarkNet: only what the skill reads, probabilities inside.

    forward(image) -> (alpha, landmarks, presence, aux_heatmap):
    alpha N x 1 x 256 x 256 = sigmoid(segmentation); landmarks N x 195 raw (as above);
    presence N x 1 probability; aux_heatmap N x 2 x 64 x 64 logits of landmarks 33 and 34,
    the two points the next frame's ROI comes from (MediaPipe refines them with the heatmap).
    The world landmarks and the other 37 heatmap channels are left out.
    """

    input_size = LANDMARK_INPUT

    def __init__(self, full: Optional[PersonLandmarkNet] = None):
        super().__init__()
        self.full = full if full is not None else PersonLandmarkNet()
        keep = list(AUX_HEATMAP_CHANNELS)
        head = self.full.heatmap
        self.aux_heatmap = pw(head.in_channels, len(keep), act=None)
        with torch.no_grad():
            self.aux_heatmap.weight.copy_(head.weight[keep])
            self.aux_heatmap.bias.copy_(head.bias[keep])

    def forward(self, image):
        net = self.full
        top, skips = net.features(image)
        decoded, segmentation = net.decoder(top, skips)
        r = net.regression(top)
        return (torch.sigmoid(segmentation), torch.flatten(net.landmarks(r), 1),
                torch.flatten(torch.sigmoid(net.presence(r)), 1), self.aux_heatmap(decoded))


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layer_kinds(order: Sequence[ConvAct]) -> List[str]:
    return [m.kind for m in order]
