"""Accuracy of the speaker step against known turns (no Django).

Turns are (start, end, speaker) triples in seconds; pieces are (start, end) pairs; labels are
one hashable speaker label per piece. Change points are matched one-to-one within a tolerance,
as region boundaries are in corpus.vad.metrics; diarization figures come from pyannote.metrics
(Bredin, "pyannote.metrics: a toolkit for reproducible evaluation, diagnostic, and error
analysis of speaker diarization systems", Interspeech 2017).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

# the one-to-one sweep behind boundary_f1: one matching rule for VAD boundaries and speaker changes
from corpus.vad.metrics import _match_count

Turn = tuple[float, float, Hashable]


def true_changes(turns: Iterable[Turn], *, max_gap_s: float) -> list[float]:
    """Speaker changes a speaker step must find: between consecutive turns (sorted by start) of
    different speakers separated by less than ``max_gap_s`` (a longer pause is the VAD's cut),
    at the middle of the gap between them, in seconds."""
    ordered = sorted(turns, key=lambda t: (t[0], t[1]))
    return [
        (a[1] + b[0]) / 2
        for a, b in zip(ordered, ordered[1:], strict=False)
        if a[2] != b[2] and b[0] - a[1] < max_gap_s
    ]


def change_counts(truth: Sequence[float], found: Sequence[float], tolerance: float) -> tuple[int, int, int]:
    """``(matched, len(found), len(truth))``: change times (seconds) matched one-to-one within
    +-``tolerance`` seconds, inclusive."""
    return _match_count(truth, found, tolerance), len(found), len(truth)


def change_f1(truth: Sequence[float], found: Sequence[float], tolerance: float) -> float:
    """F1 of speaker-change points at ``tolerance`` seconds, in [0, 1]: precision = matched /
    found, recall = matched / true, each true change matching at most one found change within
    +-tolerance (inclusive). Both lists empty give 1.0, one of them empty 0.0."""
    matched, n_found, n_true = change_counts(truth, found, tolerance)
    if n_found == 0 and n_true == 0:
        return 1.0
    if matched == 0:
        return 0.0
    precision, recall = matched / n_found, matched / n_true
    return 2 * precision * recall / (precision + recall)


def seconds_of_others(piece: tuple[float, float], turns: Iterable[Turn]) -> float:
    """Seconds of ``piece`` spoken by anyone but its main speaker (who speaks longest in it)."""
    a, b = piece
    per: dict[Hashable, float] = {}
    for s, e, who in turns:
        per[who] = per.get(who, 0.0) + max(0.0, min(b, e) - max(a, s))
    return sum(per.values()) - max(per.values(), default=0.0)


def mixed_share(
    pieces: Sequence[tuple[float, float]], turns: Sequence[Turn], *, limit_s: float = 0.5
) -> float:
    """Share of ``pieces`` holding more than ``limit_s`` seconds of a second speaker (any
    speaker but the piece's main one), in [0, 1]; 0.0 for no pieces."""
    if not pieces:
        return 0.0
    return sum(seconds_of_others(p, turns) > limit_s for p in pieces) / len(pieces)


@dataclass(frozen=True)
class DiarizationScores:
    """Diarization figures over all recordings scored together (time-weighted), as fractions.

    der          diarization error rate: (missed + false_alarm + confusion) / total true speech.
    missed, false_alarm, confusion   its three parts, each over total true speech.
    purity, coverage                 cluster purity and coverage (pyannote.metrics).
    total_s      seconds of true speech.
    """

    der: float
    missed: float
    false_alarm: float
    confusion: float
    purity: float
    coverage: float
    total_s: float


def _annotation(items: Iterable[tuple[float, float, Hashable]], uri: str):
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for k, (a, b, who) in enumerate(items):
        if b > a:
            annotation[Segment(float(a), float(b)), k] = who
    return annotation


def diarization_scores(
    truths: Sequence[Sequence[Turn]],
    hypotheses: Sequence[Sequence[tuple[float, float, Hashable]]],
    durations: Sequence[float],
    *,
    collar: float = 0.0,
) -> DiarizationScores:
    """DER, purity and coverage of ``hypotheses`` against ``truths``, one pair per recording.

    ``truths[i]``: true turns (start, end, speaker); ``hypotheses[i]``: (start, end, label) of
    the pieces kept, labels being cluster ids (their names need not match the truth's: the
    optimal mapping is found, Hungarian); ``durations[i]``: the recording's length in seconds,
    the evaluated extent (anything labelled outside the truth is a false alarm, anything true
    left unlabelled is missed). ``collar``: seconds ignored around each true boundary, in total
    (pyannote's convention: 0.5 ignores 0.25 s either side); 0 scores every frame. Computed with
    pyannote.metrics' DiarizationErrorRate, DiarizationPurity and DiarizationCoverage
    (skip_overlap=False), accumulated over recordings. Raises ValueError when the three lists
    differ in length.
    """
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationCoverage, DiarizationErrorRate, DiarizationPurity

    if not len(truths) == len(hypotheses) == len(durations):
        raise ValueError("need one truth, one hypothesis and one duration per recording")
    der = DiarizationErrorRate(collar=collar, skip_overlap=False)
    purity = DiarizationPurity(collar=collar, skip_overlap=False)
    coverage = DiarizationCoverage(collar=collar, skip_overlap=False)
    parts = {"missed detection": 0.0, "false alarm": 0.0, "confusion": 0.0, "total": 0.0}
    for i, (truth, hyp, duration) in enumerate(zip(truths, hypotheses, durations, strict=True)):
        reference, hypothesis = _annotation(truth, f"rec{i}"), _annotation(hyp, f"rec{i}")
        uem = Timeline([Segment(0.0, float(duration))], uri=f"rec{i}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pyannote warns on empty hypotheses
            detail = der(reference, hypothesis, uem=uem, detailed=True)
            purity(reference, hypothesis, uem=uem)
            coverage(reference, hypothesis, uem=uem)
        for key in parts:
            parts[key] += detail[key]
    total = parts["total"] or 1.0
    return DiarizationScores(
        der=abs(der),
        missed=parts["missed detection"] / total,
        false_alarm=parts["false alarm"] / total,
        confusion=parts["confusion"] / total,
        purity=abs(purity),
        coverage=abs(coverage),
        total_s=parts["total"],
    )
