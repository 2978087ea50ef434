"""A bank of training clips with the frozen network's logits already computed.

The head is the only thing that trains and it sees the network only through its logits, so a
clip's pictures are needed once: `build` renders clips (tools/train/clips.py: the pictures as
the skill makes them), runs the frozen network on each frame and on its clean twin (the
distillation target), and keeps per clip and frame the logits and the teacher's logits
(float16), the mask and frame 0's augmented previous alpha (uint8), plus what the clip is
(kind, prior mode, event). On this shared CPU that is ~90% of a training step's cost paid once;
training then draws clips from the bank, a random window of them and a random flip, and runs
only the head in closed loop (milliseconds a clip).

Layout of a bank folder: bank.json (the recipe: arguments, clip count, length, kinds) and
logits.npy, teacher.npy (N x K x H x W float16), gt.npy (N x K x H x W uint8, 0..255),
prior.npy (N x H x W uint8), written through memory maps in chunks, so a bank of thousands of
clips never has to fit in memory. Clip i is a pure function of (seed, i): a bank built in two
goes (--bank-clips raised later) equals one built at once.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import numpy as np
import torch
from numpy.lib.format import open_memmap

from tools.train import clips
from tools.train.augment import MODEL_H, MODEL_W, AugConfig

FILES = {"logits": np.float16, "teacher": np.float16, "gt": np.uint8}
CHUNK = 8
# What must agree between a bank and the run that extends or reads it.
RECIPE_KEYS = ("seed", "clip_len", "collections", "davis", "limit")


def _recipe(args) -> dict:
    r = {k: getattr(args, k) for k in RECIPE_KEYS}
    r["collections"], r["davis"] = list(r["collections"]), list(r["davis"])
    r["aug"] = {f.name: getattr(args, f.name) for f in dataclasses.fields(AugConfig)}
    r["clip"] = {f.name: getattr(args, f.name) for f in dataclasses.fields(clips.ClipConfig)}
    return r


def clip_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, 29])


def build(folder: pathlib.Path, args, backbone, count: int, echo=print) -> dict:
    """Write (or extend to `count` clips) the bank in `folder`; returns its bank.json."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "bank.json"
    recipe = _recipe(args)
    k = args.clip_len
    meta = {"recipe": recipe, "count": 0, "clip_len": k, "size": [MODEL_H, MODEL_W],
            "kind": [], "mode": [], "event": []}
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta["recipe"] != recipe:
            diff = sorted(key for key in recipe if recipe[key] != meta["recipe"].get(key))
            raise ValueError("bank %s was built with other settings (%s); use another --bank "
                             "folder" % (folder, ", ".join(diff)))
        if meta["count"] >= count:
            return meta
    start = meta["count"]
    arrays = {}
    for name, dtype in FILES.items():
        shape = (count, k, MODEL_H, MODEL_W)
        arrays[name] = _resize_memmap(folder / (name + ".npy"), shape, dtype, start)
    arrays["prior"] = _resize_memmap(folder / "prior.npy", (count, MODEL_H, MODEL_W), np.uint8,
                                     start)
    aug = AugConfig(**recipe["aug"])
    cc = clips.ClipConfig(**recipe["clip"])
    sources = clips.load_sources(args.collections, args.davis, args.limit)
    camera = clips.CameraPath()
    t0 = time.time()
    for i0 in range(start, count, CHUNK):
        idx = range(i0, min(count, i0 + CHUNK))
        made = [clips.make_clip(sources, clip_rng(args.seed, i), aug, cc, k) for i in idx]
        for key in ("image", "clean"):
            frames = np.stack([camera(c[key][t]) for c in made for t in range(k)])
            out = backbone(torch.from_numpy(frames)).numpy().reshape(len(made), k, MODEL_H,
                                                                        MODEL_W)
            arrays["logits" if key == "image" else "teacher"][i0:i0 + len(made)] = \
                np.clip(out, -6e4, 6e4)
        arrays["gt"][i0:i0 + len(made)] = np.stack(
            [np.stack(c["gt"]) for c in made]) * 255 + 0.5
        arrays["prior"][i0:i0 + len(made)] = np.stack([c["prior_alpha"] for c in made]) * 255 + .5
        for key in ("kind", "mode", "event"):
            meta[key] += [c[key] for c in made]
        meta["count"] = i0 + len(made)
        for a in arrays.values():
            a.flush()
        meta_path.write_text(json.dumps(meta))
        done = meta["count"] - start
        if echo and (done % (CHUNK * 25) == 0 or meta["count"] == count):
            echo("bank %s: %d / %d clips (%.2f s a clip)" % (folder, meta["count"], count,
                                                           (time.time() - t0) / done))
    return meta


def _resize_memmap(path: pathlib.Path, shape: tuple, dtype, keep: int):
    """A .npy memmap of `shape`; the first `keep` rows of an existing file are carried over."""
    if keep and path.is_file():
        old = np.load(path, mmap_mode="r")
        if old.shape[0] >= shape[0] and old.shape[1:] == shape[1:]:
            return np.load(path, mmap_mode="r+")
        tmp = path.with_suffix(".tmp.npy")
        new = open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        new[:keep] = old[:keep]
        new.flush()
        del old, new
        tmp.replace(path)
        return np.load(path, mmap_mode="r+")
    return open_memmap(path, mode="w+", dtype=dtype, shape=shape)


class Bank:
    """Read side: sample(rng, n, window) -> a batch for feedback.compute_loss."""

    def __init__(self, folder: pathlib.Path):
        meta_path = folder / "bank.json"
        if not meta_path.is_file():
            raise FileNotFoundError("no clip bank in %s (bank.json missing)" % folder)
        self.meta = json.loads(meta_path.read_text())
        self.count = self.meta["count"]
        self.arrays = {name: np.load(folder / (name + ".npy"), mmap_mode="r")
                       for name in list(FILES) + ["prior"]}

    def sample(self, rng: np.random.Generator, n: int, window: tuple = None,
               kind_weights: dict = None) -> dict:
        """n clips at random (a clip of kind k with probability in proportion to
        kind_weights[k], default 1), each cut to the same random window (h, w) over all its
        frames and mirrored with p 0.5 (the head is local, so a window trains it like the
        frame)."""
        if kind_weights:
            w = np.array([kind_weights.get(k, 1.0) for k in self.meta["kind"][:self.count]])
            idx = rng.choice(self.count, n, p=w / w.sum())
        else:
            idx = rng.integers(0, self.count, n)
        h, w = window or (MODEL_H, MODEL_W)
        out = {"logits": [], "teacher": [], "gt": [], "prior_alpha": []}
        for i in idx:
            y0 = int(rng.integers(0, MODEL_H - h + 1))
            x0 = int(rng.integers(0, MODEL_W - w + 1))
            step = -1 if rng.random() < 0.5 else 1
            cut = (slice(y0, y0 + h), slice(x0, x0 + w))
            for name in ("logits", "teacher", "gt"):
                a = self.arrays[name][i][:, cut[0], cut[1]][..., ::step]
                out[name].append(a.astype(np.float32) / (255.0 if name == "gt" else 1.0))
            p = self.arrays["prior"][i][cut[0], cut[1]][..., ::step]
            out["prior_alpha"].append(p.astype(np.float32) / 255.0)
        batch = {name: torch.from_numpy(np.ascontiguousarray(np.stack(v, 1)[:, :, None]))
                 for name, v in out.items() if name != "prior_alpha"}
        batch["prior_alpha"] = torch.from_numpy(np.stack(out["prior_alpha"])[:, None])
        for key in ("kind", "mode", "event"):
            batch[key] = [self.meta[key][int(i)] for i in idx]
        return batch
