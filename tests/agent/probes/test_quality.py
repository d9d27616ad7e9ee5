from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes import quality


def test_jitter_follows_rfc_3550_step_by_step():
    transits = [10.0, 12.0, 11.0, 15.0]
    expected = 0.0
    for change in (2.0, 1.0, 4.0):  # |D| between consecutive packets
        expected += (change - expected) / 16

    assert quality.interarrival_jitter(transits) == pytest.approx(expected)
    assert expected == pytest.approx(0.41845703125)


def test_a_steady_path_has_no_jitter_and_one_packet_gives_none():
    assert quality.interarrival_jitter([40.0] * 10) == 0.0
    assert quality.interarrival_jitter([40.0]) is None
    assert quality.interarrival_jitter([]) is None


def test_loss_counts_what_did_not_come_back():
    assert quality.loss_pct(200, 190) == 5.0
    assert quality.loss_pct(10, 12) == 0.0  # duplicates never make negative loss
    with pytest.raises(ValueError, match="sent must be positive"):
        quality.loss_pct(0, 0)


def test_round_trip_loss_splits_evenly_over_a_symmetric_path():
    # 2 % each way loses 1 - 0.98**2 = 3.96 % of round trips.
    assert quality.one_way_loss_pct(3.96) == pytest.approx(2.0)
    assert quality.one_way_loss_pct(0.0) == 0.0
    assert quality.one_way_loss_pct(100.0) == 100.0


def test_delay_impairment_bends_at_177_3_ms():
    assert quality.delay_impairment(100) == pytest.approx(2.4)
    assert quality.delay_impairment(177.3) == pytest.approx(4.2552)
    assert quality.delay_impairment(200) == pytest.approx(0.024 * 200 + 0.11 * 22.7)


def test_loss_impairment_is_g107_eq_7_29_for_g711_with_concealment():
    assert quality.loss_impairment(0) == 0.0
    assert quality.loss_impairment(2) == pytest.approx(95 * 2 / (2 + 25.1))
    assert quality.loss_impairment(10, ie=10, bpl=19, burst_r=2) == pytest.approx(10 + 85 * 10 / (5 + 19))


def test_a_perfect_path_rates_93_2():
    assert quality.r_factor(0, 0) == 93.2


@pytest.mark.parametrize(
    ("rating", "score"),
    # G.107 Annex B: R 93.2 is the default connection; R 80 "satisfied", 70 "some users
    # dissatisfied", 60 "many", 50 "nearly all".
    [(93.2, 4.41), (80, 4.02), (70, 3.60), (60, 3.10), (50, 2.58), (100, 4.5), (0, 1.0), (-5, 1.0)],
)
def test_mos_follows_g107_annex_b(rating, score):
    assert quality.mos(rating) == pytest.approx(score, abs=0.005)


def test_mos_never_drops_below_one_where_the_cubic_dips():
    assert quality.mos(3) == 1.0


def test_nothing_back_is_the_worst_score():
    assert quality.path_quality(50, []) == quality.PathQuality(50, 0, None, None, 100.0, 0.0, 1.0)


def test_a_clean_20_ms_path_scores_near_the_top():
    result = quality.path_quality(50, [20.0] * 50)

    # one-way 10 ms, no jitter buffer, no loss: R = 93.2 - 0.24
    assert result == quality.PathQuality(50, 50, 20.0, 0.0, 0.0, 92.96, 4.4)


def test_jitter_lengthens_the_delay_by_the_playout_buffer():
    assert quality.one_way_delay_ms(rtt_ms=80, jitter_ms=5) == 50.0


@given(
    delay=st.floats(0, 2000),
    loss=st.floats(0, 100),
    more_delay=st.floats(0, 500),
    more_loss=st.floats(0, 100),
)
def test_more_delay_or_loss_never_raises_the_score(delay, loss, more_delay, more_loss):
    worse_loss = min(100.0, loss + more_loss)
    rating = quality.r_factor(delay, loss)

    assert 0 <= rating <= 100
    assert quality.r_factor(delay + more_delay, loss) <= rating
    assert quality.r_factor(delay, worse_loss) <= rating
    assert 1.0 <= quality.mos(rating) <= 4.5
    assert quality.mos(quality.r_factor(delay, worse_loss)) <= quality.mos(rating)
