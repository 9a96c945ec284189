"""Speaker embeddings, speaker-change detection and clustering (see corpus.speakers.core)."""

from .core import (
    Piece,
    SpeakerParams,
    SpeakerPieces,
    change_scores,
    clip_embedding,
    cluster_speakers,
    link_clusters,
    speaker_pieces,
)

__all__ = [
    "Piece",
    "SpeakerParams",
    "SpeakerPieces",
    "change_scores",
    "clip_embedding",
    "cluster_speakers",
    "link_clusters",
    "speaker_pieces",
]
