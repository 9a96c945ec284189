"""Voice activity detection for TuniSER Studio (pure numpy + webrtcvad + silero-vad; no Django).

    from corpus.vad import VadParams, detect_regions, clip_quality, analyse

    analysis = analyse(samples, sample_rate, params)          # frame once
    regions = detect_regions(analysis, sample_rate, params)  # or detect_regions(samples, sr, params)
    quality = [clip_quality(analysis, sample_rate, r.start, r.end, params) for r in regions]

See ``corpus.vad.core`` for the algorithm and ``corpus.vad.params.VadParams`` for the settings.
"""

from .core import Analysis, analyse, clip_quality, detect_regions
from .metrics import boundary_f1
from .params import Region, VadParams

__all__ = ["Analysis", "Region", "VadParams", "analyse", "boundary_f1", "clip_quality", "detect_regions"]
