"""utils/report.py: the run's counts and means (Stats) and the progress line (Progress)."""
import io

from utils import log
from utils.pipeline import STAGES
from utils.report import Progress, Stats

COLUMNS = ("read",) + STAGES + ("show", "total")


class Clock(object):
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def frame_ms(total, **extra):
    ms = dict((n, 1.0) for n in COLUMNS)
    ms["total"] = total
    ms.update(extra)
    return ms


def test_summary_counts_what_happened_to_the_frames():
    clock = Clock()
    st = Stats(COLUMNS, clock=clock)
    st.add(frame_ms(10.0))
    st.add(frame_ms(20.0), ok=False, resets=("inference failed",))
    st.add(frame_ms(30.0), resets=("scene cut",))
    st.add(frame_ms(40.0), ok=False, resets=("frame size changed", "inference failed"))
    st.skip()
    clock.t += 2.0
    timing, counts = st.summary_lines()
    assert timing == ("4 frames, 2.0 fps; mean ms/frame: read 1.00, resize 1.00, people 1.00, "
                      "infer 1.00, postprocess 1.00, upsample 1.00, composite 1.00, show 1.00, "
                      "total 25.00")
    assert counts == ("1 frames skipped, 2 shown untouched (inference failed); prior resets: "
                      "frame size changed 1, inference failed 2, scene cut 1")
    assert st.frames == 4 and st.failed == 2 and st.skipped == 1


def test_nothing_reset_reads_none():
    st = Stats(COLUMNS)
    st.add(frame_ms(5.0))
    assert st.summary_lines()[1].endswith("0 shown untouched (inference failed); prior "
                                          "resets: none")


def test_a_new_stage_gets_a_column_before_the_total():
    st = Stats(COLUMNS, clock=Clock())
    st.add(frame_ms(10.0))
    st.add(frame_ms(10.0, person=3.0))  # e.g. a stage that runs every few frames
    line = st.summary_lines()[0]
    assert "show 1.00, person 1.50, total 10.00" in line  # 3 ms over 2 frames


def test_window_lines_cover_only_their_interval():
    clock = Clock()
    st = Stats(COLUMNS, clock=clock)
    st.add(frame_ms(10.0))
    clock.t += 1.0
    assert st.window_line().startswith("1 frames, 1.0 fps;")
    st.add(frame_ms(30.0))
    st.add(frame_ms(50.0))
    clock.t += 1.0
    line = st.window_line()
    assert line.startswith("2 frames, 2.0 fps;") and line.endswith("total 40.00")
    assert st.summary_lines()[0].endswith("total 30.00")  # the run's mean is all frames


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_to_a_file_every_few_seconds():
    clock = Clock()
    stream = io.StringIO()
    st = Stats(COLUMNS, clock=clock)
    p = Progress(True, stream, clock=clock)
    st.add(frame_ms(4.0))
    p.update(st)
    clock.t += 5.0
    p.update(st)
    p.close(st)
    lines = stream.getvalue().splitlines()
    assert lines == ["progress: frame 1 | 0.2 frames/s | 4.0 ms/frame"] * 2


def test_progress_on_a_terminal_rewrites_one_line_and_makes_way_for_log_lines():
    clock = Clock()
    stream = Tty()
    st = Stats(COLUMNS, clock=clock)
    p = Progress(True, stream, clock=clock)
    st.add(frame_ms(4.0))
    clock.t += 1.0
    p.update(st)
    assert stream.getvalue() == "\rframe 1 | 1.0 frames/s | 4.0 ms/frame "
    log.info("a line from elsewhere")  # the progress line is cleared first
    assert stream.getvalue().endswith("\r\x1b[K")
    p.close(st)
    assert stream.getvalue().endswith("4.0 ms/frame \n") and p._clear not in log.listeners


def test_progress_off_writes_nothing():
    stream = Tty()
    st = Stats(COLUMNS)
    st.add(frame_ms(4.0))
    p = Progress(False, stream)
    p.update(st, force=True)
    p.close(st)
    assert stream.getvalue() == "" and p._clear not in log.listeners
