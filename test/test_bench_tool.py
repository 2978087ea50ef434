"""tools/bench/bench.py and tools/bench/seed_pipeline.py on a few tiny frames of the bundled sample
video: the tables and JSON come out, and the output check holds (no timing assertions)."""
import json
import os

import numpy as np
import pytest

from tools.bench import bench

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "test", "cameras0.mp4")


def nv21(rng, w, h):
    return rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8)


def test_reference_composite_is_the_frame_the_background_and_their_mean():
    rng = np.random.default_rng(0)
    fg, bg = nv21(rng, 8, 6), nv21(rng, 8, 6)
    for value, expected in ((255, fg), (0, bg)):
        alpha = np.full((6, 8), value, np.uint8)
        np.testing.assert_array_equal(bench.reference_composite(fg, bg, alpha), expected)
    half = bench.reference_composite(fg, bg, np.full((6, 8), 0.5))
    np.testing.assert_array_equal(half, np.rint((fg.astype(float) + bg) / 2))


def test_reference_chroma_uses_the_2x2_mean_or_the_pipelines_half_alpha():
    fg = np.full((6, 4), 200, np.uint8)
    bg = np.zeros((6, 4), np.uint8)
    alpha = np.zeros((4, 4), np.uint8)
    alpha[0, 0] = 255  # one of four pixels of the top-left chroma block
    ref = bench.reference_composite(fg, bg, alpha)
    assert ref[0, 0] == 200 and ref[0, 1] == 0
    assert ref[4, 0] == ref[4, 1] == 50 and ref[4, 2] == 0  # V and U of block (0, 0)
    half = np.array([[255, 0], [0, 255]], np.uint8)
    ref = bench.reference_composite(fg, bg, alpha, half)
    assert list(ref[4]) == [200, 200, 0, 0] and list(ref[5]) == [0, 0, 200, 200]


def test_max_difference_sees_one_pixel_off_by_three_levels():
    rng = np.random.default_rng(1)
    fg, bg = nv21(rng, 16, 8), nv21(rng, 16, 8)
    alpha = rng.integers(0, 256, (8, 16), dtype=np.uint8)
    ref = bench.reference_composite(fg, bg, alpha)
    out = ref.astype(np.uint8)
    assert bench.max_difference(out, ref) == 0
    out[9, 5] = min(int(out[9, 5]) + 3, 255) if out[9, 5] < 128 else int(out[9, 5]) - 3
    assert bench.max_difference(out, ref) == 3


def test_frame_source_gives_nv21_at_the_size_and_takes_chunks_from_each_video():
    src = bench.FrameSource([SAMPLE, SAMPLE], 320, 240, start=100, chunk=2)
    try:
        frames = [src.read() for _ in range(5)]
    finally:
        src.close()
    assert all(f.shape == (360, 320) and f.dtype == np.uint8 for f in frames)
    # video 1 starts at frame 100, video 2 at frame 0: chunks differ, then video 1 goes on
    assert not np.array_equal(frames[0], frames[2])
    assert not np.array_equal(frames[1], frames[4])
    with pytest.raises(ValueError, match="cannot be opened"):
        bench.FrameSource([os.path.join(REPO, "aipp.cfg")], 64, 64)


def test_parse_sizes_checks_each_size():
    assert bench.parse_sizes("640x480, 1280x720") == [(640, 480), (1280, 720)]
    for bad in ("640", "641x480", "4000x3000", "axb"):
        with pytest.raises(ValueError, match="--sizes"):
            bench.parse_sizes(bad)


def test_bench_runs_both_pipelines_and_writes_table_json_and_plot(tmp_path, capsys):
    out_json = tmp_path / "bench.json"
    out_png = tmp_path / "bench.png"
    rc = bench.main(["--video", SAMPLE, "--sizes", "256x144,320x240", "--frames", "4",
                     "--warmup", "1", "--check-every", "1",
                     "--json", str(out_json), "--plot", str(out_png)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "== 320x240" in printed and "speed-up" in printed and "| 256x144 |" in printed
    report = json.loads(out_json.read_text())
    assert report["output_check_ok"] is True
    assert [r["size"] for r in report["results"]] == [[256, 144], [320, 240]]
    assert "outside the model calls" in printed and "<= 6 ms" not in printed  # no 1280x720
    assert "in hardware calls" in printed and "CPU outside the model and hardware" in printed
    for r in report["results"]:
        assert set(r["ours"]["stages"]) == {"resize", "people", "infer", "postprocess",
                                            "upsample", "composite"}
        assert set(r["seed"]["stages"]) == {"resize", "infer", "postprocess", "upsample",
                                            "composite"}
        for name in ("ours", "seed"):
            res = r[name]
            assert res["end_to_end"]["median"] > 0 and res["fps"] > 0
            assert res["checked_frames"] == 4
            # the work outside the model calls is the end to end time less the calls
            assert 0 < res["outside"]["median"] <= res["end_to_end"]["median"]
            # the Preprocessor calls (DVPP on the device) are timed apart from the CPU work
            assert res["hardware"]["median"] > 0
            assert 0 < res["cpu_outside"]["median"] < res["outside"]["median"]
        o = r["ours"]
        assert r["segmenter"] == "auto" and o["calls_per_frame"]["segmenter"] >= 1
        assert o["model_ms"]["segmenter"]["median"] > 0
        assert r["outside_ratio"] == pytest.approx(r["seed"]["outside"]["median"]
                                                   / o["outside"]["median"])
        assert r["cpu_outside_ratio"] == pytest.approx(r["seed"]["cpu_outside"]["median"]
                                                       / o["cpu_outside"]["median"])
        assert r["ours"]["max_diff"] <= bench.MAX_DIFF
        assert r["seed"]["max_diff"] is not None
        assert r["speedup"] > 0 and r["peak_rss_mib"] > 0
    assert out_png.stat().st_size > 1000


def test_bench_refuses_a_background_the_seed_cannot_share(capsys):
    rc = bench.main(["--video", SAMPLE, "--sizes", "256x144", "--frames", "1",
                     "--background", "blur"])
    assert rc == 2
    assert "background must be an image or a colour" in capsys.readouterr().err


def test_missing_video_is_named(capsys):
    rc = bench.main(["--video", "/nonexistent/clip.mp4", "--frames", "1"])
    assert rc == 2
    assert "/nonexistent/clip.mp4 not found" in capsys.readouterr().err
