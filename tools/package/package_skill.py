"""Zip exactly what the HiLens Kit needs to run the skill, for upload in HiLens Studio.

    python -m tools.package.package_skill [--root .] [--name matting_skill] [--out-dir dist]
                                  [--allow-missing-om]

The archive holds, relative to the skill root:
    main.py                  the entry point (run(work_path))
    utils/**                 device code (no __pycache__ / *.pyc)
    model/*.om               the converted models (./convert_om.sh makes them)
    model/MODEL.md           the model card: source and Apache-2.0 notice of the weights
    aipp.cfg                 the AIPP the .om was converted with (the simulator reads it too)
    data/**                  backgrounds shipped with the skill
and nothing else: no ONNX/Caffe files, tools/, test/, stubs/ or hidden files. Without any
model/*.om the skill cannot run on the device, so packaging stops unless --allow-missing-om
is given (e.g. to check the rest of the layout on a PC). Entries are sorted and dated
1980-01-01, so the same tree always gives the same zip.
"""
import argparse
import pathlib
import sys
import zipfile

from tools import paths

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
REQUIRED = ("main.py", "utils", "aipp.cfg", "data")


class PackageError(Exception):
    """The skill tree is not ready to be packaged."""


def _visible_files(folder):
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") or p == "__pycache__" for p in parts):
            continue
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            yield path


def skill_files(root, allow_missing_om=False):
    """Sorted list of files (paths relative to root) that go into the package."""
    root = pathlib.Path(root)
    for name in REQUIRED:
        if not (root / name).exists():
            raise PackageError("missing %s in %s (the device needs it)" % (name, root))
    files = [root / "main.py", root / "aipp.cfg"]
    files += list(_visible_files(root / "utils"))
    files += list(_visible_files(root / "data"))
    oms = sorted((root / "model").glob("*.om"))
    if not oms and not allow_missing_om:
        raise PackageError("no model/*.om in %s: convert the model first (./convert_om.sh in "
                           "HiLens Studio), or pass --allow-missing-om" % root)
    files += oms
    if (root / "model" / "MODEL.md").is_file():
        files.append(root / "model" / "MODEL.md")
    return sorted(p.relative_to(root).as_posix() for p in files)


# the models each segmenter needs (utils/config.py's defaults): selfie runs matting alone,
# person and auto (the default) also the two person networks
SEGMENTER_MODELS = ("model/matting.om", "model/person_detector.om", "model/person_segmenter.om")


def missing_models(names):
    """One line per model of the default configuration that the package lacks, saying what
    the skill then does."""
    lines = []
    for om in SEGMENTER_MODELS:
        if om not in names:
            if om == "model/matting.om":
                lines.append("%s missing: segmenter selfie and auto (the default) cannot "
                             "start, only person" % om)
            else:
                lines.append("%s missing: segmenter person cannot start, auto (the default) "
                             "runs the selfie model alone" % om)
    return lines


def build_zip(root, out_path, allow_missing_om=False):
    """Write the package; returns the list of archived names."""
    root = pathlib.Path(root)
    names = skill_files(root, allow_missing_om)
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, (root / name).read_bytes())
    return names


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(paths.REPO),
                    help="skill root (default: this repository)")
    ap.add_argument("--name", default="matting_skill", help="archive name without .zip")
    ap.add_argument("--out-dir", default=None, help="default: <root>/dist")
    ap.add_argument("--allow-missing-om", action="store_true",
                    help="package even without model/*.om (not runnable on the device)")
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out_dir or pathlib.Path(args.root) / "dist") / (args.name + ".zip")
    try:
        names = build_zip(args.root, out, args.allow_missing_om)
    except (PackageError, OSError) as exc:
        print("package_skill: %s" % exc, file=sys.stderr)
        return 1
    if not any(n.endswith(".om") for n in names):
        print("package_skill: warning: no .om inside; the device cannot run this package",
              file=sys.stderr)
    else:
        for line in missing_models(names):
            print("package_skill: warning: %s" % line, file=sys.stderr)
    print("\n".join(names))
    print("wrote %s (%d files, %d bytes)" % (out, len(names), out.stat().st_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
