"""Numbers as people read them, for the admin and messages: a share as a percent with one
decimal, a probability to three places, a duration in s / min / h, a size in KiB / MiB / GiB.

Plain functions of plain values (no Django): `None` is shown as an em dash.
"""

from __future__ import annotations

import math

DASH = "—"


def percent(fraction: float | None) -> str:
    """A share in [0, 1] as a percent with one decimal: 0.35237439779766 -> "35.2%"."""
    if fraction is None:
        return DASH
    return f"{100 * fraction:.1f}%"


def probability(p: float | None) -> str:
    """A probability (or any score in [0, 1]) to three places: 0.8123456789 -> "0.812"."""
    if p is None:
        return DASH
    return f"{p:.3f}"


def duration(seconds: float | None) -> str:
    """A duration: under a minute in seconds with two decimals ("3.52 s"), under an hour in
    minutes and whole seconds ("2 min 05 s"), else hours and minutes ("1 h 02 min")."""
    if seconds is None:
        return DASH
    if seconds < 60:
        return f"{seconds:.2f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def milliseconds(ms: int | None) -> str:
    """A duration given in milliseconds: 4200 -> "4.20 s"."""
    return DASH if ms is None else duration(ms / 1000)


def count(n: int, singular: str, plural: str | None = None) -> str:
    """A count with its noun in English: 1 -> "1 clip", 3 -> "3 clips", 0 -> "0 clips"."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def sample_rate(hz: int | None) -> str:
    """A sample rate in kHz, without a needless ".0": 48000 -> "48 kHz", 22050 -> "22.05 kHz"."""
    if hz is None:
        return DASH
    return f"{hz / 1000:g} kHz"


# corpus.vad caps its SNR estimate here (digital silence as the noise floor); core imports no app.
SNR_CAP_DB = 60.0


def snr(db: float | None) -> str:
    """A signal-to-noise ratio in dB with one decimal; at the estimator's cap, "≥ 60 dB"."""
    if db is None:
        return DASH
    if db >= SNR_CAP_DB:
        return f"≥ {SNR_CAP_DB:.0f} dB"
    return f"{db:.1f} dB"


def size(n_bytes: int | None) -> str:
    """A file size in binary units with one decimal: 1572864 -> "1.5 MiB"."""
    if n_bytes is None:
        return DASH
    if n_bytes < 1024:
        return f"{n_bytes} B"
    exponent = min(int(math.log(n_bytes, 1024)), 4)
    return f"{n_bytes / 1024**exponent:.1f} {('B', 'KiB', 'MiB', 'GiB', 'TiB')[exponent]}"


def number(value, places: int = 3):
    """A JSON value with every float rounded to `places` (nested dicts and lists too): what a
    table of metrics or hyper-parameters shows. Learning rates and other tiny values keep three
    significant digits instead of rounding to 0."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if value != 0 and abs(value) < 10**-places:
            return float(f"{value:.{places}g}")
        return round(value, places)
    if isinstance(value, dict):
        return {k: number(v, places) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [number(v, places) for v in value]
    return value
