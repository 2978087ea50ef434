"""Where the repository and the shared data are: the one place the tools look it up.

The data sets (hsd, ccp, davis, videos; see ../shared/data/README.md) are read in place, never
copied into the repository. By default they are in `shared/data` beside the repository
(`../shared/data` from its root); the environment variable MATTING_SHARED_DATA points
elsewhere. A tool that needs a folder that is not there stops with one line that names the folder
and, for the shared data, the variable (`require`, or `data_hint` appended to a tool's own
message).

Standard library only: the tools that run in the MediaPipe venv import this too.
"""
import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent
DATA_ENV = "MATTING_SHARED_DATA"
CACHE = REPO / ".cache"          # downloads and derived files, never committed


class MissingData(FileNotFoundError):
    """A data folder or file a tool needs is not there (the message is one line)."""


def shared_data() -> pathlib.Path:
    """The folder holding hsd/, ccp/, davis/ and videos/: $MATTING_SHARED_DATA, else
    ../shared/data beside the repository."""
    env = os.environ.get(DATA_ENV)
    if env:
        return pathlib.Path(env).expanduser()
    return REPO.parent / "shared" / "data"


def hsd() -> pathlib.Path:
    """232 photos of people: images/NNN.jpg, masks/NNN.png (0/255)."""
    return shared_data() / "hsd"


def ccp() -> pathlib.Path:
    """804 full-body street photos (Clothing Co-Parsing): images/NNNN.jpg, masks/NNNN.png."""
    return shared_data() / "ccp"


def davis() -> pathlib.Path:
    """DAVIS 2016 clips with a person mask per frame: CLIP/images/NNNNN.jpg, CLIP/masks/."""
    return shared_data() / "davis"


def videos() -> pathlib.Path:
    """Real clips with people (Intel sample videos, CC BY 4.0)."""
    return shared_data() / "videos"


def video(name: str) -> pathlib.Path:
    return videos() / name


def cache(*parts: str) -> pathlib.Path:
    """A path under the repository's .cache/ folder (e.g. cache("mediapipe"))."""
    return CACHE.joinpath(*parts)


def data_hint(path) -> str:
    """For a missing `path` inside the shared data: where the tools look for that data and the
    variable that moves it, as a tail for a one-line error message ("" for other paths)."""
    root = shared_data()
    try:
        pathlib.Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        return ""
    return ("; the shared data is read from %s (set %s to the folder that holds hsd/, ccp/, "
            "davis/ and videos/)" % (root, DATA_ENV))


def require(path, what: str) -> pathlib.Path:
    """`path` if it exists, else MissingData "WHAT not found: PATH" (+ data_hint)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise MissingData("%s not found: %s%s" % (what, path, data_hint(path)))
    return path
