"""Speaker embeddings, speaker-change detection and clustering (see corpus.speakers.core).

    from corpus.speakers import SpeakerParams, speaker_pieces, cluster_speakers

    result = speaker_pieces(samples, regions, params=SpeakerParams())  # pieces, embeddings
    labels = cluster_speakers(result.embeddings)                        # one label per piece

The steps one by one: `window_embeddings` -> `speaker_changes` -> `split_regions` ->
`piece_embeddings` / `piece_confidence`; `corpus.speakers.metrics` scores them against a truth.
"""

from .core import (
    Piece,
    SpeakerParams,
    SpeakerPieces,
    Windows,
    change_scores,
    clip_embedding,
    cluster_speakers,
    link_clusters,
    piece_confidence,
    piece_embeddings,
    speaker_changes,
    speaker_pieces,
    split_regions,
    window_embeddings,
)

__all__ = [
    "Piece",
    "SpeakerParams",
    "SpeakerPieces",
    "Windows",
    "change_scores",
    "clip_embedding",
    "cluster_speakers",
    "link_clusters",
    "piece_confidence",
    "piece_embeddings",
    "speaker_changes",
    "speaker_pieces",
    "split_regions",
    "window_embeddings",
]
