"""Every setting of the skill in one place: name, type, default, validation and doc.

The same keys come from the HiLens console (`hilens.get_skill_config()`, each item read as
`cfg[key]["value"]`) on the device and from command-line flags on a PC (key `blur_size` <->
flag `--blur-size`). Precedence: default < skill config < command line. A bad value never
stops the skill: it logs one line naming the key, the value and what was expected, and the
key keeps its default. Relative file names are resolved here, once (see load_config): those
of the defaults and the skill config against the skill folder, those typed on the command
line against the current folder, as for any command; what a
`background` value means (colour, image, ...) is utils.background's, which this module asks.
"""
import argparse
import os
from typing import Any, Dict, List, Optional

from utils import background, files, log

_UNSET = object()

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


# -- paths: resolved once, in load_config, so no stage needs to know the skill folder --------

def resolve(path: str, base_dir: Optional[str]) -> str:
    """Relative paths in the config are relative to the skill folder (work_path)."""
    if not path or os.path.isabs(path) or base_dir is None:
        return path
    return os.path.join(base_dir, path)


def resolve_input(path: str, base_dir: Optional[str]) -> str:
    """Like resolve() for files that are read: one that exists only relative to the
    current directory (a relative path typed on a PC command line) is taken from there."""
    full = resolve(path, base_dir)
    if full != path and not os.path.exists(full) and os.path.exists(path):
        return os.path.abspath(path)
    return full


def _resolve_source(spec, base_dir, model_dir):
    # a camera ('' built-in, '0' UVC, a URL, an IPC camera name) stays as it is
    if spec == "" or spec.isdigit() or "://" in spec:
        return spec
    path = resolve_input(spec, base_dir)
    if os.path.isdir(path) or os.path.isfile(path) or files.names_a_file(spec):
        return path
    return spec


def _resolve_output(spec, base_dir, model_dir):
    if spec.lower() == "hdmi" or spec.lower().startswith("rtmp://"):
        return spec
    return resolve(spec, base_dir)


def _resolve_folder(path, base_dir, model_dir):
    return resolve(path, base_dir)


def _resolve_model(path, base_dir, model_dir):
    """The model relative to the skill folder; one that is not there but is in the model
    folder (hilens.get_model_dir()) is taken from there. Where neither holds the file, the
    skill folder's path is kept: hilens.Model loads it or says why not (on a PC the
    simulator loads its stand-in; the skill does not need to know which file that is)."""
    full = resolve_input(path, base_dir)
    if os.path.exists(full) or os.path.isabs(path) or not model_dir:
        return full
    alt = os.path.join(model_dir, os.path.basename(path))
    return alt if os.path.exists(alt) else full


def _resolve_background(spec, base_dir, model_dir):
    try:
        kind = background.background_kind(spec)
    except ValueError:
        return spec  # not usable: the background stage says so and uses grey
    return resolve_input(spec, base_dir) if kind in ("image", "video") else spec


class Key(object):
    """One configuration key. `parse` turns a raw value (console string, JSON value or CLI
    string) into the typed value or raises ValueError saying what was expected."""

    def __init__(self, name, kind, default, doc, lo=None, hi=None, choices=None,
                 parity=None, pc_default=_UNSET, check=None, resolve=None):
        self.name = name
        self.kind = kind  # "bool" | "int" | "float" | "str" | "choice"
        self.default = default
        self.doc = doc
        self.lo = lo
        self.hi = hi
        self.choices = choices
        self.parity = parity  # None | "odd" | "even"
        self.pc_default = default if pc_default is _UNSET else pc_default
        self.check = check  # extra check(value, base_dir) raising ValueError
        self.resolve = resolve  # resolve(value, base_dir, model_dir): a path key's full path

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    def expected(self):
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind in ("int", "float"):
            what = {"int": "an integer", "float": "a number"}[self.kind]
            if self.parity:
                what = "an %s integer" % self.parity
            if self.lo is not None and self.hi is not None:
                what += " in [%s, %s]" % (self.lo, self.hi)
            return what
        return "a string"

    def parse(self, raw, base_dir=None):
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise ValueError("expected " + self.expected())
        if self.kind in ("int", "float"):
            if isinstance(raw, bool):
                raise ValueError("expected " + self.expected())
            try:
                if self.kind == "int":
                    if isinstance(raw, float):
                        if not raw.is_integer():
                            raise ValueError()
                        value = int(raw)
                    else:
                        value = int(str(raw).strip())
                else:
                    value = float(str(raw).strip()) if not isinstance(raw, (int, float)) \
                        else float(raw)
            except (TypeError, ValueError, OverflowError):  # 400 digits do not make a float
                raise ValueError("expected " + self.expected())
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("expected " + self.expected())
            if (self.lo is not None and value < self.lo) or \
                    (self.hi is not None and value > self.hi):
                raise ValueError("expected " + self.expected())
            if self.parity == "odd" and value % 2 != 1:
                raise ValueError("expected " + self.expected())
            if self.parity == "even" and value % 2 != 0:
                raise ValueError("expected " + self.expected())
            return value
        if self.kind == "choice":
            s = str(raw).strip().lower()
            if s not in self.choices:
                raise ValueError("expected " + self.expected())
            return s
        if not isinstance(raw, str):
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                raw = str(raw)  # e.g. input 0 (UVC camera) given as a JSON number
            else:
                raise ValueError("expected " + self.expected())
        value = raw.strip()
        if self.check is not None:
            self.check(value, base_dir)
        return value


def _check_background(value, base_dir):
    kind = background.background_kind(value)
    if kind in ("image", "video"):
        path = resolve_input(value, base_dir)
        if base_dir is not None and not os.path.isfile(path):
            raise ValueError("expected an existing %s file, %s not found" % (kind, path))


KEYS = [
    Key("input", "str", "",
        "video source: '' built-in camera, '0' UVC camera, an IPC camera name, rtsp:// URL, "
        "an .mp4 file; on a PC also a folder of images (the simulator's built-in camera "
        "plays test/cameras0.mp4, as HiLens Studio does)", resolve=_resolve_source),
    Key("output", "str", "hdmi",
        "where frames go: 'hdmi', an rtmp:// URL, or a video file (H264_FILE display; "
        "the simulator's HDMI writes hdmi_output.mp4)", resolve=_resolve_output),
    Key("loop", "bool", False, "restart a file input at its end instead of stopping"),
    Key("max_frames", "int", 0, "stop after this many frames (0: no limit)", lo=0, hi=10 ** 9),
    Key("alpha_out", "str", "", "folder for 8-bit alpha PNGs named by frame index ('' off)",
        resolve=_resolve_folder),
    Key("progress", "bool", False, "progress line with frames/s on stderr", pc_default=True),
    Key("stats_interval", "float", 60.0,
        "seconds between timing summaries (and 'no person found' lines) in the log while "
        "running (0: only at the end)",
        lo=0.0, hi=86400.0),
    Key("model", "str", "model/matting.om", "model file (.om; the simulator loads the .onnx)",
        resolve=_resolve_model),
    Key("model_width", "int", 256, "model input width in pixels", lo=64, hi=1920,
        parity="even"),
    Key("model_height", "int", 144, "model input height in pixels", lo=64, hi=1080,
        parity="even"),
    Key("segmenter", "choice", "auto",
        "who makes the matte: selfie (the model above, for faces near the camera), person "
        "(person detector + a segmenter per person, any distance) or auto (person, and the "
        "selfie model when nobody is found or someone fills the frame)",
        choices=("selfie", "person", "auto")),
    Key("detector_model", "str", "model/person_detector.om",
        "person detector (.om, 224x224 NV21 in)", resolve=_resolve_model),
    Key("segmenter_model", "str", "model/person_segmenter.om",
        "person segmenter (.om, 256x256 NV21 crop of one person in)", resolve=_resolve_model),
    Key("max_people", "int", 3, "most people followed and cut out at once", lo=1, hi=10),
    Key("detect_interval", "int", 10,
        "frames between looks for newcomers while people are followed (the detector "
        "also runs while nobody is, and as soon as someone is lost)", lo=1, hi=10000),
    Key("detect_score", "float", 0.5,
        "lowest detector score that makes the segmenter look at someone new", lo=0.05,
        hi=1.0),
    Key("track_presence", "float", 0.5,
        "presence (segmenter) a newcomer needs to be followed; a followed person below it "
        "is unsure and the detector checks it at once", lo=0.0, hi=1.0),
    Key("keep_presence", "float", 0.1,
        "a followed person whose presence falls below this is dropped", lo=0.0, hi=1.0),
    Key("matte_height", "int", 216,
        "rows of the matte the people are pasted into (frame aspect; the selfie model "
        "alone uses its own size)", lo=64, hi=1080, parity="even"),
    Key("closeup", "float", 0.09,
        "segmenter auto: a followed face (eyes to mouth and ears) larger than this fraction "
        "of the frame height is a close-up: the selfie model runs too, its whole matte joined "
        "to the people's; below it the selfie matte never mattes a followed person",
        lo=0.0, hi=1.0),
    Key("selfie_hold", "float", 0.02,
        "segmenter auto: the selfie model also looks whenever the detector does; where its "
        "matte, less the followed people, holds more than this fraction of the frame outside "
        "their ROIs, it runs on and that is joined to the people's matte until it is "
        "followed or gone (0: off)", lo=0.0, hi=1.0),
    Key("feedback", "bool", True,
        "feed the previous alpha back into models with a prev_alpha input (zeros when off)"),
    Key("prior_decay", "float", 0.9,
        "prior = clamp((decay*alpha - floor) / (1 - floor)): below 1 a prior the image no "
        "longer supports fades out in a few frames", lo=0.0, hi=1.0),
    Key("prior_floor", "float", 0.2, "prior values below this (after decay) become 0",
        lo=0.0, hi=0.95),
    Key("scene_cut", "float", 30.0,
        "mean abs difference (0-255) of the model-size Y plane between frames that resets "
        "the prior (0: off)", lo=0.0, hi=255.0),
    Key("cleanup", "bool", True,
        "PP-HumanSeg clean-up: keep only regions grown from confident cores"),
    Key("cleanup_threshold", "float", 0.8, "alpha above this is a confident core",
        lo=0.0, hi=1.0),
    Key("erode_size", "int", 3, "erode kernel of the cores (model pixels)", lo=1, hi=31,
        parity="odd"),
    Key("dilate_size", "int", 13, "dilate kernel, larger than erode_size (model pixels)",
        lo=1, hi=63, parity="odd"),
    Key("threshold", "bool", True, "soft confidence threshold between threshold_low/high"),
    Key("threshold_low", "float", 0.2, "alpha at or below this becomes 0", lo=0.0, hi=1.0),
    Key("threshold_high", "float", 0.8, "alpha at or above this becomes 1", lo=0.0, hi=1.0),
    Key("history", "float", 0.95,
        "matte history: weight of the previous matte where the picture did not change and "
        "the network is unsure (0 off; `feedback` is the network's own input, not this)",
        lo=0.0, hi=0.95),
    Key("history_motion", "float", 6.0,
        "picture change, in units of the camera's noise (measured from the frames), at "
        "which a pixel is moving and its new matte passes at once (the weight falls from "
        "half of it)", lo=0.5, hi=15.0),
    Key("history_bridge", "int", 3,
        "frames a collapse of the person area on a still picture (a network glitch) is "
        "bridged with the history before it is believed (0: never)", lo=0, hi=10),
    Key("upsample", "choice", "guided_half",
        "segmenter selfie: alpha to frame size: guided (edge-aware, driven by Y), "
        "guided_half (the same at half size, then scaled: cheaper) or bilinear (with the "
        "person stage every scaling is bilinear)",
        choices=("guided", "guided_half", "bilinear")),
    Key("guided_radius", "int", 2, "guided filter radius at model size", lo=1, hi=16),
    Key("guided_eps", "float", 0.0005,
        "guided filter regularisation (guide in [0, 1]); smaller follows edges more",
        lo=1e-6, hi=1.0),
    Key("background", "str", "data/background.jpg",
        "image or video file, a colour '#RRGGBB', 'blur' (live frame), 'green' (green "
        "screen) or 'alpha' (alpha matte as grey picture)", check=_check_background,
        resolve=_resolve_background),
    Key("blur_size", "int", 9, "blur kernel for background 'blur' (model pixels)", lo=3,
        hi=63, parity="odd"),
    Key("view", "choice", "result",
        "result, or side_by_side (input | result in one frame of the same size)",
        choices=("result", "side_by_side")),
]

KEY_BY_NAME = dict((k.name, k) for k in KEYS)

# Pairs that must be ordered; when they are not, both fall back to their defaults.
ORDERED_PAIRS = (("threshold_low", "threshold_high"), ("erode_size", "dilate_size"))


class Config(object):
    """Attribute access to the validated values: cfg.background, cfg.model_width, ..."""

    def __init__(self, values):
        self.__dict__.update(values)

    def as_dict(self):
        return dict((k.name, getattr(self, k.name)) for k in KEYS)

    def replace(self, **changes):
        values = self.as_dict()
        for name in changes:
            if name not in KEY_BY_NAME:
                raise KeyError("unknown config key %r" % name)
        values.update(changes)
        return Config(values)

    def __repr__(self):
        return "Config(%s)" % ", ".join("%s=%r" % kv for kv in sorted(self.as_dict().items()))


def build_parser():
    p = argparse.ArgumentParser(
        prog="main.py",
        description="Real-time portrait matting skill, run on a PC through the hilens "
                    "simulator. Every flag is also a skill-config key (flag --a-b <-> key a_b).")
    for k in KEYS:
        kw = dict(dest=k.name, default=None, metavar=k.kind.upper(),
                  help="%s (default %r)" % (k.doc.replace("%", "%%"), k.pc_default))
        if k.kind == "bool":
            kw.update(nargs="?", const="true", metavar="BOOL")
        if k.kind == "choice":
            kw["metavar"] = "{%s}" % ",".join(k.choices)
        p.add_argument(k.flag, **kw)
    return p


def _raw_skill_value(item):
    # The console gives {"value": v}; a plain value is accepted as well.
    if isinstance(item, dict):
        if "value" not in item:
            raise ValueError("expected an item with a 'value'")
        return item["value"]
    return item


def load_config(skill_cfg: Optional[Dict[str, Any]] = None, argv: Optional[List[str]] = None,
                base_dir: Optional[str] = None, model_dir: Optional[str] = None) -> Config:
    """Validated Config from the skill config dict (or None) and CLI arguments (or None).

    argv None means run(work_path) called by HiLens: no command line. With argv (a list,
    possibly empty: `python3 main.py`, which is also how the devguide's skills start) the
    flags apply and the few PC defaults (a progress line). Input and output default to the
    built-in camera and HDMI everywhere: on a PC the simulator plays test/cameras0.mp4 as
    that camera and writes HDMI to a file, so an unchanged skill runs on both.
    `base_dir` (the skill folder) is used to check that file values exist, and every
    relative path (input, output, alpha_out, model, background file) is resolved here, once,
    against it (a model missing there is looked for in `model_dir`,
    hilens.get_model_dir()): the stages get full paths and never see the skill folder.
    Paths typed on the command line are the exception: like any command's, they are
    relative to the current folder (`--output ./x.mp4` lands where the user is).
    """
    on_pc = argv is not None
    values = dict((k.name, k.pc_default if on_pc else k.default) for k in KEYS)
    sources = []
    if skill_cfg:
        if not isinstance(skill_cfg, dict):
            log.error("config: skill config is a %s, expected a dict; using defaults"
                      % type(skill_cfg).__name__)
        else:
            items = []
            for name in sorted(skill_cfg):
                if name not in KEY_BY_NAME:
                    log.warning("config: unknown key %r in the skill config ignored" % name)
                    continue
                try:
                    items.append((name, _raw_skill_value(skill_cfg[name])))
                except ValueError as e:
                    log.error("config: %s: %s; using default %r" % (name, e, values[name]))
            sources.append(("skill config", items))
    if on_pc:
        ns = build_parser().parse_args(argv)
        sources.append(("command line", [(k.name, getattr(ns, k.name)) for k in KEYS
                                         if getattr(ns, k.name) is not None]))
    folders = {}  # key -> the folder its relative path is relative to, when not base_dir
    for where, items in sources:
        here = os.getcwd() if where == "command line" else base_dir
        for name, raw in items:
            key = KEY_BY_NAME[name]
            try:
                values[name] = key.parse(raw, here)
                folders[name] = here
            except ValueError as e:
                log.error("config: %s=%r from the %s is invalid: %s; using %r"
                          % (name, raw, where, e, values[name]))
    for lo_name, hi_name in ORDERED_PAIRS:
        if values[lo_name] >= values[hi_name]:
            lo_key, hi_key = KEY_BY_NAME[lo_name], KEY_BY_NAME[hi_name]
            log.error("config: %s=%r must be smaller than %s=%r; using defaults %r and %r"
                      % (lo_name, values[lo_name], hi_name, values[hi_name],
                         lo_key.default, hi_key.default))
            values[lo_name], values[hi_name] = lo_key.default, hi_key.default
    for k in KEYS:
        if k.resolve is not None:
            values[k.name] = k.resolve(values[k.name], folders.get(k.name, base_dir), model_dir)
    return Config(values)


def markdown_table():
    """The key table for the README (device default; PC default where it differs)."""
    rows = ["| key / flag | type | default | meaning |", "|---|---|---|---|"]
    for k in KEYS:
        kind = k.kind if k.kind != "choice" else " \\| ".join(k.choices)
        if k.lo is not None and k.kind in ("int", "float"):
            kind += " [%s, %s]%s" % (k.lo, k.hi, " " + k.parity if k.parity else "")
        default = repr(k.default)
        if k.pc_default != k.default:
            default += " (PC: %r)" % (k.pc_default,)
        rows.append("| `%s` / `%s` | %s | %s | %s |" % (k.name, k.flag, kind, default,
                                                       k.doc.replace("|", "\\|")))
    return "\n".join(rows)
