"""The training loss of a batch of clips, run in closed loop as at run time (see compute_loss),
and the tap that reads the network's logits for it."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tools.model.selfie_net import SelfieSegNet


class LogitsTap:
    """Reads the pre-sigmoid output of SelfieSegNet's head (for a numerically safe BCE) through a
    forward hook, so the network module stays the one that is exported."""

    def __init__(self, model: SelfieSegNet):
        self.value = None
        model.head.deconv.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.value = output


def compute_loss(model, tap, teacher, batch: dict, args) -> tuple:
    """(loss tensor, {part: float}) of a batch of clips, run in closed loop: frame k gets the
    network's own (detached) output on frame k - 1 as prior, frame 0 the clip's prior. Per frame:
    BCE + L1 to the ground truth, distillation to the frozen original network, a hinge on
    certain pixels, and from frame 1 on the temporal error itself,
    |(a_k - a_(k-1)) - (g_k - g_(k-1))|."""
    prior = batch["prior"]
    length = batch["image"].shape[0]
    totals = {}
    loss = 0.0
    prev_alpha = None

    def add(name, value, weight):
        nonlocal loss
        loss = loss + weight * value / length
        totals[name] = totals.get(name, 0.0) + value.item() / length

    for k in range(length):
        model(batch["image"][k], prior)
        logits = tap.value
        alpha = torch.sigmoid(logits)
        gt = batch["gt"][k]
        if args.gt_weight > 0:
            add("bce", F.binary_cross_entropy_with_logits(logits, gt), args.gt_weight)
            add("l1", (alpha - gt).abs().mean(), args.gt_weight * args.l1_weight)
        if teacher is not None and args.distill > 0:
            # the teacher sees the frame before the lighting/noise augmentation: a confident
            # target that also asks the student to be invariant to those
            with torch.no_grad():
                t = teacher(batch["clean" if args.distill_clean else "image"][k])
            add("distill", F.binary_cross_entropy_with_logits(logits, t), args.distill)
        if args.margin_weight > 0:
            # hinge on the logits where the ground truth is certain: BCE's pull fades as alpha
            # nears the target, which can leave a faint haze on empty rooms
            bg, fg = gt <= 0.01, gt >= 0.99
            hinge = (F.relu(logits + args.margin) * bg + F.relu(args.margin - logits) * fg).mean()
            add("margin", hinge, args.margin_weight)
        if k > 0 and args.temporal_weight > 0:
            d = (alpha - prev_alpha) - (gt - batch["gt"][k - 1])
            add("temporal", d.abs().mean(), args.temporal_weight)
        prev_alpha = alpha
        prior = alpha.detach()
    totals["loss"] = float(loss.item())
    return loss, totals
