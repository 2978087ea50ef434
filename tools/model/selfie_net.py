"""MediaPipe's selfie-segmentation network written out in PyTorch.

Architecture as read from `selfie_segmentation*.tflite` (mediapipe 0.10.14); both variants share
it and differ only in input size (landscape 144x256, square 256x256) and weights:

    stem      3x3/2 conv 3->16, hard-swish                                   (H/2)   skip 3
    encoder   8 inverted residuals, a truncated MobileNetV3-small:
              16 -> 16   3x3/2 relu  SE                                      (H/4)   skip 2
              16 -> 24   3x3/2 relu                                          (H/8)
              24 -> 24   3x3   relu  + residual                                      skip 1
              24 -> 32   5x5/2 hswish SE, then four 32 -> 32 5x5 hswish SE + residual (H/16)
    lraspp    LR-ASPP head: relu(1x1 conv) * sigmoid(1x1 conv(global mean))   32 -> 128
    decoder   3 stages, each: x2 bilinear upsample, 1x1 conv, SE-gated skip merge,
              1x1 conv + relu, then a residual relu 3x3 depthwise conv      128->24->16->16
    head      2x2/2 transposed conv 16 -> 1 (+bias), sigmoid                 (H)

Facts that matter for anyone re-implementing it (e.g. with Caffe layers):
- Upsampling is tflite RESIZE_BILINEAR with align_corners=False, half_pixel_centers=True, i.e.
  F.interpolate(mode="bilinear", align_corners=False) (ONNX Resize "half_pixel"/"pytorch_half_pixel",
  identical for a x2 upsample): out[i] samples in[(i + 0.5) / 2 - 0.5], clamped at the edges.
- Strided convs use TensorFlow "SAME" padding, which is asymmetric for even inputs: 3x3/2 pads
  (top/left 0, bottom/right 1), 5x5/2 pads (1, 2). Stride-1 convs pad k//2 on every side.
- Global pooling is a plain spatial mean (MEAN in the landscape file, a full-size
  AVERAGE_POOL_2D in the square one). SE gates use relu then sigmoid (not hard-sigmoid).
- The head is MediaPipe's custom op Convolution2DTransposeBias (SAME, stride 2, 2x2 kernel):
  with kernel == stride nothing overlaps and no padding is cut, so it is exactly
  ConvTranspose2d(16, 1, 2, stride=2).
- Input: RGB in [0, 1] (value / 255), the image stretched to the input size without keeping
  the aspect ratio (MediaPipe's ImageToTensorCalculator, output_tensor_float_range [0, 1]).

The optional previous-alpha input is our extension, in one of two places (`prior_at`):
- "stem": a fourth input channel of the stem conv (weights start at zero);
- "head": a small FeedbackHead after the network, which sees the network's output logits and
  the prior and adds a correction to the logits before the sigmoid. Its last conv starts at
  zero, so the untrained extension is the original network whatever the prior; training it
  leaves MediaPipe's weights as they are (model/MODEL.md, "feedback training").
"""
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZES = {"landscape": (144, 256), "square": (256, 256)}
PRIOR_PLACES = ("stem", "head")

# (in, expanded, out, kernel, stride, activation, squeeze channels or None)
ENCODER_CONFIG = (
    (16, 16, 16, 3, 2, "relu", 8),
    (16, 72, 24, 3, 2, "relu", None),
    (24, 88, 24, 3, 1, "relu", None),
    (24, 96, 32, 5, 2, "hswish", 24),
    (32, 128, 32, 5, 1, "hswish", 32),
    (32, 128, 32, 5, 1, "hswish", 32),
    (32, 96, 32, 5, 1, "hswish", 24),
    (32, 96, 32, 5, 1, "hswish", 24),
)
# encoder blocks whose outputs (with the stem's) feed the decoder, deepest skip to first stage
SKIP_BLOCKS = (0, 2)
LRASPP_CHANNELS = 128
DECODER_CHANNELS = (24, 16, 16)  # stage outputs; each equals its skip's channel count


class HardSwish(nn.Module):
    """x * relu6(x + 3) / 6. Written as x * hardsigmoid(x) so opset 11 exports it as
    HardSigmoid(alpha=1/6, beta=0.5) + Mul (HardSwish only exists from opset 14)."""

    def forward(self, x):
        return x * F.hardsigmoid(x)


def _activation(name):
    return HardSwish() if name == "hswish" else nn.ReLU()


def tf_same_pads(size, kernel, stride):
    """(before, after) padding of TensorFlow "SAME" for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding for a fixed input size. Symmetric padding goes into
    the conv itself; asymmetric padding (strided convs) is an explicit zero pad, which
    export_onnx folds back into the ONNX Conv's pads attribute."""

    def __init__(self, in_ch, out_ch, kernel, stride=1, groups=1, in_size=None):
        if stride == 1:
            pads = ((kernel // 2,) * 2,) * 2
        else:
            if in_size is None:
                raise ValueError("a strided SAME conv needs the input size")
            pads = tuple(tf_same_pads(s, kernel, stride) for s in in_size)
        symmetric = all(a == b for a, b in pads)
        super().__init__(in_ch, out_ch, kernel, stride,
                         padding=(pads[0][0], pads[1][0]) if symmetric else 0, groups=groups)
        # F.pad order: (left, right, top, bottom)
        self.extra_pad = None if symmetric else (pads[1][0], pads[1][1], pads[0][0], pads[0][1])

    def forward(self, x):
        if self.extra_pad is not None:
            x = F.pad(x, self.extra_pad)
        return super().forward(x)


def _conv1x1(in_ch, out_ch):
    return nn.Conv2d(in_ch, out_ch, 1)


class Stem(nn.Module):
    def __init__(self, in_ch, in_size):
        super().__init__()
        self.conv = SameConv2d(in_ch, 16, 3, 2, in_size=in_size)
        self.act = HardSwish()

    def forward(self, x):
        return self.act(self.conv(x))


class SqueezeExcite(nn.Module):
    """x * sigmoid(fc2(relu(fc1(global mean of x)))), the fcs being 1x1 convs."""

    def __init__(self, ch, squeeze_ch):
        super().__init__()
        self.reduce = _conv1x1(ch, squeeze_ch)
        self.expand = _conv1x1(squeeze_ch, ch)

    def gate(self, x):
        s = F.adaptive_avg_pool2d(x, 1)  # exports as GlobalAveragePool
        return torch.sigmoid(self.expand(F.relu(self.reduce(s))))

    def forward(self, x):
        return x * self.gate(x)


class InvertedResidual(nn.Module):
    """MobileNetV3 bottleneck: 1x1 expand + act, kxk depthwise (stride) + act, optional SE,
    linear 1x1 project, identity shortcut when shapes allow."""

    def __init__(self, in_ch, exp_ch, out_ch, kernel, stride, act, se_ch, in_size):
        super().__init__()
        self.expand = _conv1x1(in_ch, exp_ch)
        self.expand_act = _activation(act)
        self.depthwise = SameConv2d(exp_ch, exp_ch, kernel, stride, groups=exp_ch,
                                    in_size=in_size)
        self.depthwise_act = _activation(act)
        self.se = SqueezeExcite(exp_ch, se_ch) if se_ch else None
        self.project = _conv1x1(exp_ch, out_ch)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        y = self.depthwise_act(self.depthwise(self.expand_act(self.expand(x))))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class LRASPP(nn.Module):
    """Lite R-ASPP segmentation head (MobileNetV3 paper): features gated by a global context."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.features = _conv1x1(in_ch, out_ch)
        self.context = _conv1x1(in_ch, out_ch)

    def forward(self, x):
        gate = torch.sigmoid(self.context(F.adaptive_avg_pool2d(x, 1)))
        return F.relu(self.features(x)) * gate


class SkipMerge(nn.Module):
    """Fuse an encoder skip into the decoder path: the skip is scaled per channel by an SE gate
    computed from (skip + decoder), then added to the decoder features."""

    def __init__(self, ch):
        super().__init__()
        self.se = SqueezeExcite(ch, ch)

    def forward(self, decoded, skip):
        return skip * self.se.gate(skip + decoded) + decoded


class DecoderStage(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.reduce = _conv1x1(in_ch, out_ch)
        self.merge = SkipMerge(out_ch)
        self.refine = _conv1x1(out_ch, out_ch)
        self.depthwise = nn.Conv2d(out_ch, out_ch, 3, padding=1, groups=out_ch)

    def forward(self, x, skip):
        # tflite RESIZE_BILINEAR(align_corners=False, half_pixel_centers=True)
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.merge(self.reduce(x), skip)
        x = F.relu(self.refine(x))
        return x + F.relu(self.depthwise(x))


class Head(nn.Module):
    """MediaPipe's Convolution2DTransposeBias (2x2, stride 2) and the output sigmoid."""

    def __init__(self, in_ch):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_ch, 1, 2, stride=2)

    def forward(self, x):
        return torch.sigmoid(self.deconv(x))


class FeedbackHead(nn.Module):
    """logits, prior -> logits + prior * correction: the learned previous-alpha feedback.

    It works at half the model's resolution (2x2 means of its inputs; its correction is
    repeated over each 2x2 block), which keeps it at a quarter of the network's cost on a CPU
    while the full-resolution logits keep every edge. It sees the network's present opinion,
    sigmoid(logits), and the prior (the skill's prior_transform of the last alpha): a 3x3 conv
    of the two (the place and its neighbours), and a motion cue, a 1x1 conv + relu of the two
    (e.g. where they disagree) averaged over a 5x5 window: an edge that moved leaves a band of
    disagreement, flicker and noise leave specks. 1x1 convs mix both into one correction of
    the logits, scaled by the prior itself:
    - where the prior is 0 (nothing was there, or no prior at all: the first frame, a person
      walking in) the output is the network's own, exactly: entries are found as fast as the
      per-frame network finds them and a single photo gets the per-frame matte;
    - the correction is a bounded function of bounded inputs, so where the network is
      confident (far from zero logits) it cannot be overruled: a person who left leaves
      confident background the prior cannot hold up (no ghosts);
    - where the network hesitates (edges, hair, noise) and nothing moved, the prior steadies
      it.
    The last conv starts at zero: an untrained head is the identity. Plain Conv,
    ConvTranspose (the fixed 2x2 repeat), Relu, AveragePool, Sigmoid, Concat, Mul and Add, as
    the Ascend converters take them."""

    MOTION_CHANNELS = 2
    MOTION_WINDOW = 5

    def __init__(self, channels: int = 8):
        super().__init__()
        self.channels = int(channels)
        self.spatial = nn.Conv2d(2, self.channels, 3, padding=1)
        self.motion = nn.Conv2d(2, self.MOTION_CHANNELS, 1)
        self.mix = nn.Conv2d(self.channels + self.MOTION_CHANNELS, self.channels, 1)
        self.out = nn.Conv2d(self.channels, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        # nearest-neighbour x2 as a transposed conv with constant weights (a buffer, not learnt)
        self.register_buffer("repeat2", torch.ones(1, 1, 2, 2), persistent=False)

    def window_mean(self, x):
        k = self.MOTION_WINDOW
        return F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=True)

    def inputs(self, logits, prior):
        """sigmoid(logits) and the prior at half resolution, N x 2 x H/2 x W/2."""
        return F.avg_pool2d(torch.cat([torch.sigmoid(logits), prior], dim=1), 2)

    def forward(self, logits, prior):
        x = self.inputs(logits, prior)
        local = F.relu(self.spatial(x))
        motion = self.window_mean(F.relu(self.motion(x)))
        y = F.relu(self.mix(torch.cat([local, motion], dim=1)))
        correction = F.conv_transpose2d(self.out(y), self.repeat2, stride=2)
        return logits + prior * correction


class SelfieSegNet(nn.Module):
    """forward(image[, prev_alpha]) -> alpha, all N x C x H x W float in [0, 1].

    image: RGB / 255, exactly `input_size`. prev_alpha (only with prev_alpha=True): the previous
    frame's alpha at the same size, zeros for "no prior"; it enters the stem conv as a fourth
    channel whose weights start at zero, so the untrained extension is the original network.
    """

    def __init__(self, variant: str = "landscape", prev_alpha: bool = False,
                 prior_at: str = "stem", head_channels: int = 8):
        super().__init__()
        if variant not in INPUT_SIZES:
            raise ValueError("unknown variant %r: expected one of %s"
                             % (variant, sorted(INPUT_SIZES)))
        if prior_at not in PRIOR_PLACES:
            raise ValueError("unknown prior place %r: expected one of %s"
                             % (prior_at, PRIOR_PLACES))
        self.variant = variant
        self.input_size = INPUT_SIZES[variant]
        self.prev_alpha = bool(prev_alpha)
        self.prior_at = prior_at if self.prev_alpha else None

        size = tuple(-(-s // 2) for s in self.input_size)
        self.stem = Stem(4 if self.prior_at == "stem" else 3, self.input_size)
        blocks = []
        for in_ch, exp_ch, out_ch, k, s, act, se_ch in ENCODER_CONFIG:
            blocks.append(InvertedResidual(in_ch, exp_ch, out_ch, k, s, act, se_ch, size))
            size = tuple(-(-d // s) for d in size)
        self.encoder = nn.ModuleList(blocks)
        self.lraspp = LRASPP(ENCODER_CONFIG[-1][2], LRASPP_CHANNELS)
        stages, in_ch = [], LRASPP_CHANNELS
        for out_ch in DECODER_CHANNELS:
            stages.append(DecoderStage(in_ch, out_ch))
            in_ch = out_ch
        self.decoder = nn.ModuleList(stages)
        self.head = Head(in_ch)
        self.feedback = FeedbackHead(head_channels) if self.prior_at == "head" else None

    def forward(self, image, prev_alpha=None):
        self._check_inputs(image, prev_alpha)
        if self.prior_at == "stem":
            return self.head(self._features(torch.cat([image, prev_alpha], dim=1)))
        if self.feedback is None:
            return self.head(self._features(image))
        logits = self.head.deconv(self._features(image))
        return torch.sigmoid(self.feedback(logits, prev_alpha))

    def logits(self, image, prev_alpha=None):
        """The network's logits before the sigmoid and before a FeedbackHead (which needs no
        prev_alpha here: the prior enters only after them)."""
        if self.prior_at == "head":
            self._check_inputs(image, torch.zeros_like(image[:, :1]))
            return self.head.deconv(self._features(image))
        self._check_inputs(image, prev_alpha)
        x = torch.cat([image, prev_alpha], dim=1) if self.prior_at == "stem" else image
        return self.head.deconv(self._features(x))

    def _check_inputs(self, image, prev_alpha):
        expect = tuple(self.input_size)
        if tuple(image.shape[1:]) != (3,) + expect:
            raise ValueError("image must be N x 3 x %d x %d, got %s"
                             % (expect + (tuple(image.shape),)))
        if self.prev_alpha:
            if prev_alpha is None:
                raise ValueError("this model takes prev_alpha (N x 1 x %d x %d)" % expect)
            if tuple(prev_alpha.shape[1:]) != (1,) + expect:
                raise ValueError("prev_alpha must be N x 1 x %d x %d, got %s"
                                 % (expect + (tuple(prev_alpha.shape),)))
        elif prev_alpha is not None:
            raise ValueError("this model was built without a prev_alpha input")

    def _features(self, x):
        """The decoder's output, before the head."""
        x = self.stem(x)
        skips = [x]
        for i, block in enumerate(self.encoder):
            x = block(x)
            if i in SKIP_BLOCKS:
                skips.append(x)
        x = self.lraspp(x)
        for stage, skip in zip(self.decoder, reversed(skips)):
            x = stage(x, skip)
        return x

    def tflite_weight_order(self):
        """(kind, module) for every weighted layer in the order the tflite graph runs them;
        kind is "conv", "depthwise" or "transpose". The importer zips this with the file."""
        order = [("conv", self.stem.conv)]
        for block in self.encoder:
            order += [("conv", block.expand), ("depthwise", block.depthwise)]
            if block.se is not None:
                order += [("conv", block.se.reduce), ("conv", block.se.expand)]
            order.append(("conv", block.project))
        # the tflite graph computes the feature conv before the context conv
        order += [("conv", self.lraspp.features), ("conv", self.lraspp.context)]
        for stage in self.decoder:
            order += [("conv", stage.reduce), ("conv", stage.merge.se.reduce),
                      ("conv", stage.merge.se.expand), ("conv", stage.refine),
                      ("depthwise", stage.depthwise)]
        order.append(("transpose", self.head.deconv))
        return order
