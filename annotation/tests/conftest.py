"""Fixtures of the annotation tests."""

import pytest


@pytest.fixture
def no_speaker_step(settings, _media_root):
    """Segment the test recordings without the speaker step: tests of the queue need clips, not
    voices, and the resemblyzer embeddings are a large part of a world's set-up time on the CPU."""
    settings.TUNISER = {**settings.TUNISER, "SPEAKER_STEP": False}
