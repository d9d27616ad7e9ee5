"""Path quality for live two-way lessons: jitter, loss, E-model R-factor and MOS.

Pure arithmetic, no I/O: the sync-classroom probe measures round trips, and these
functions turn them into the figures the county's thresholds speak of.

Jitter: RFC 3550 section 6.4.1 interarrival jitter, J += (|D| - J) / 16, where D is the
change in transit time between consecutive packets in arrival order. An echo is sent
and received on our own clock, so its transit time is its round trip.

R-factor: the ITU-T G.107 (06/2015) E-model with its default parameters, simplified as
R = 93.2 - Id - Ie_eff, as is usual for network monitoring:
  93.2    R of G.107's default connection (R0 - Is with all defaults, A = 0).
  Id      delay impairment, in the approximation of R. G. Cole and J. H. Rosenbluth,
          "Voice over IP performance monitoring", ACM SIGCOMM CCR 31(2), 2001, fitted to
          G.107 for echo-free terminals: Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3),
          d the one-way (mouth-to-ear) delay in ms, H the unit step.
  Ie_eff  G.107 eq. (7-29): Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl), Ppl the one-way
          packet loss in %. Defaults: G.711 with packet loss concealment, Ie = 0 and
          Bpl = 25.1 (ITU-T G.113 Appendix I); BurstR = 1, random loss.
MOS: G.107 Annex B, eq. (B-4): 1 + 0.035 R + R (R - 60)(100 - R) 7e-6 for 0 < R < 100.

An echo measures both directions at once and the E-model wants one, so the path is taken
as symmetric: one-way delay = rtt / 2 plus a playout (de-jitter) buffer of twice the
jitter, which a receiver needs to absorb it; one-way loss = 1 - sqrt(1 - round-trip loss).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

R_DEFAULT = 93.2
IE_G711 = 0.0
BPL_G711_PLC = 25.1
JITTER_BUFFER_FACTOR = 2.0


@dataclass(frozen=True)
class PathQuality:
    """Figures of one burst of echoes. loss_pct is round-trip, as measured; rtt_ms the
    mean round trip; None where nothing came back to compute it from."""

    sent: int
    received: int
    rtt_ms: float | None
    jitter_ms: float | None
    loss_pct: float
    r_factor: float
    mos: float


def interarrival_jitter(transits_ms: Sequence[float]) -> float | None:
    """RFC 3550 jitter of transit times in arrival order; None for fewer than two."""
    if len(transits_ms) < 2:
        return None
    jitter = 0.0
    for previous, current in zip(transits_ms, transits_ms[1:]):
        jitter += (abs(current - previous) - jitter) / 16
    return jitter


def loss_pct(sent: int, received: int) -> float:
    if sent <= 0:
        raise ValueError(f"sent must be positive, got {sent}")
    return 100 * (sent - min(received, sent)) / sent


def one_way_loss_pct(round_trip_loss_pct: float) -> float:
    """The loss of each direction that gives this round-trip loss on a symmetric path."""
    return 100 * (1 - math.sqrt(1 - round_trip_loss_pct / 100))


def one_way_delay_ms(rtt_ms: float, jitter_ms: float) -> float:
    """Mouth-to-ear delay: half the round trip plus the playout buffer."""
    return rtt_ms / 2 + JITTER_BUFFER_FACTOR * jitter_ms


def delay_impairment(one_way_ms: float) -> float:
    """Id (Cole and Rosenbluth's fit to G.107)."""
    return 0.024 * one_way_ms + (0.11 * (one_way_ms - 177.3) if one_way_ms > 177.3 else 0.0)


def loss_impairment(
    one_way_loss: float, ie: float = IE_G711, bpl: float = BPL_G711_PLC, burst_r: float = 1.0
) -> float:
    """Ie_eff, G.107 eq. (7-29); one_way_loss in %."""
    return ie + (95 - ie) * one_way_loss / (one_way_loss / burst_r + bpl)


def r_factor(one_way_ms: float, one_way_loss: float) -> float:
    """The simplified E-model rating, clamped to 0-100."""
    rating = R_DEFAULT - delay_impairment(one_way_ms) - loss_impairment(one_way_loss)
    return min(100.0, max(0.0, rating))


def mos(rating: float) -> float:
    """G.107 Annex B: the estimated mean opinion score (1-4.5) for a rating R."""
    if rating <= 0:
        return 1.0
    if rating >= 100:
        return 4.5
    score = 1 + 0.035 * rating + rating * (rating - 60) * (100 - rating) * 7e-6
    return max(1.0, score)  # the cubic dips just below 1 for R under about 6.5


def path_quality(sent: int, rtts_ms: Sequence[float]) -> PathQuality:
    """The figures of a burst: `sent` echoes, the round trips of those that came back
    in arrival order. Nothing back reads as the worst score (R 0, MOS 1)."""
    lost = loss_pct(sent, len(rtts_ms))
    if not rtts_ms:
        return PathQuality(sent, 0, None, None, round(lost, 3), 0.0, 1.0)
    rtt = sum(rtts_ms) / len(rtts_ms)
    jitter = interarrival_jitter(rtts_ms)
    rating = r_factor(one_way_delay_ms(rtt, jitter or 0.0), one_way_loss_pct(lost))
    return PathQuality(
        sent,
        len(rtts_ms),
        round(rtt, 3),
        None if jitter is None else round(jitter, 3),
        round(lost, 3),
        round(rating, 2),
        round(mos(rating), 2),
    )
