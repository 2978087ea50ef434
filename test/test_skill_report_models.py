"""The run summary's model line (utils/report.Stats.models_line) and the temporal state's
matte size and skipped-selfie event (utils/temporal.TemporalState)."""
import numpy as np
import pytest

from utils.report import Stats
from utils.temporal import TemporalState


def test_models_line_gives_calls_and_ms_per_frame_people_and_faults():
    st = Stats(("resize", "total"))
    st.add({"resize": 1.0, "total": 10.0}, calls={"detector": 1, "segmenter": 2},
           model_ms={"detector": 4.0, "segmenter": 10.0}, people=2)
    st.add({"resize": 1.0, "total": 10.0}, calls={"detector": 0, "segmenter": 2, "selfie": 1},
           model_ms={"detector": 0.0, "segmenter": 12.0, "selfie": 2.0}, people=2,
           events=("crop refused", "crop refused", "selfie failed"))
    assert st.models_line() == (
        "model calls per frame: detector 0.50 (2.00 ms), segmenter 2.00 (11.00 ms), selfie "
        "0.50 (1.00 ms); 2.00 people per frame; faults handled: crop refused 2, selfie "
        "failed 1")
    assert Stats().models_line().startswith("model calls per frame: none; 0.00 people")


def test_the_matte_size_is_the_states_and_a_skipped_selfie_frame_drops_the_prior():
    st = TemporalState(128, 72, history=0.5)
    st.set_matte_size(384, 216)
    y = np.zeros((216, 384), np.uint8)
    assert st.begin_frame((640, 360), y) is None
    with pytest.raises(ValueError, match="matte size"):
        st.begin_frame((640, 360), np.zeros((72, 128), np.uint8))
    matte = np.full((216, 384), 0.5, np.float32)
    assert st.new_matte(matte) is matte and st.history.shape == (216, 384)
    st.new_alpha(np.ones((72, 128), np.float32))
    assert st.has_prior and st.feedback().max() > 0
    st.no_alpha()
    assert not st.has_prior and st.feedback().max() == 0
    assert st.has_history  # the matte history is not the selfie model's
