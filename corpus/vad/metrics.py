"""Accuracy of detected speech regions against known ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def _pairs(regions: Iterable) -> list[tuple[float, float]]:
    out = []
    for r in regions:
        if hasattr(r, "start") and hasattr(r, "end"):
            out.append((float(r.start), float(r.end)))
        else:
            a, b = r
            out.append((float(a), float(b)))
    return out


def _match_count(truth: Sequence[float], found: Sequence[float], tolerance: float) -> int:
    """Largest one-to-one matching of points at most ``tolerance`` apart (sweep over sorted lists;
    for points on a line with a distance limit this greedy sweep is a maximum matching)."""
    t, d = sorted(truth), sorted(found)
    i = j = matched = 0
    while i < len(t) and j < len(d):
        if d[j] < t[i] - tolerance:
            j += 1
        elif d[j] > t[i] + tolerance:
            i += 1
        else:
            matched += 1
            i += 1
            j += 1
    return matched


def boundary_counts(true_regions, detected_regions, tolerance: float) -> tuple[int, int, int]:
    """Boundary counts behind ``boundary_f1``: ``(matched, 2 * len(detected), 2 * len(true))``.

    Regions and ``tolerance`` as in ``boundary_f1`` (seconds). Onsets and offsets are matched
    separately, each one-to-one within +-``tolerance`` inclusive, and ``matched`` is their sum.
    Raises TypeError or ValueError when a region is neither a (start, end) pair nor has
    ``.start``/``.end``.
    """
    truth, found = _pairs(true_regions), _pairs(detected_regions)
    matched = _match_count([a for a, _ in truth], [a for a, _ in found], tolerance)
    matched += _match_count([b for _, b in truth], [b for _, b in found], tolerance)
    return matched, 2 * len(found), 2 * len(truth)


def boundary_f1(true_regions, detected_regions, tolerance: float) -> float:
    """F1 of region boundaries at ``tolerance`` seconds, in [0, 1].

    ``true_regions`` and ``detected_regions``: iterables of (start, end) pairs or objects with
    ``.start``/``.end`` (e.g. ``Region``), in seconds, in any order. Every true onset may match
    at most one detected onset within +-``tolerance`` (inclusive; offsets likewise, never an
    onset with an offset): the tolerance-window F-measure of onset detection (as in
    ``mir_eval.onset.f_measure``), over onsets and offsets together. Precision = matched /
    detected boundaries, recall = matched / true boundaries. Both lists empty give 1.0, one of
    them empty 0.0. Raises as ``boundary_counts`` does on malformed regions.

    Two true regions merged into one detected region lose two boundaries (the offset of the first
    and the onset of the second), so the test track's pauses (0.3-2 s) are kept longer than the
    default ``merge_gap_ms`` (250 ms): a fair test asks the detector to find pauses it is set up
    to keep.
    """
    matched, n_found, n_true = boundary_counts(true_regions, detected_regions, tolerance)
    if n_found == 0 and n_true == 0:
        return 1.0
    if n_found == 0 or n_true == 0:
        return 0.0
    precision, recall = matched / n_found, matched / n_true
    return 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)
