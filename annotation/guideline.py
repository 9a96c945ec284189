"""The corpus guideline (TuniSER): rejection reasons and the default label schema.

Seeded by migration 0002 and editable in the admin afterwards: the platform reads the rows,
never these constants.
"""

REASONS = [
    ("multiple_speakers", "More than one speaker, or overlapping speech"),
    ("noise", "Noise: the speaker is not clearly heard"),
    ("music", "Music"),
    ("silence", "Silence or no speech"),
    ("bad_quality", "Bad audio quality"),
    ("cut", "Cut inside a word or sentence"),
    ("multiple_scenes", "More than one scene"),
]
EMOTIONS = [
    ("happy", "Happy", "primary", "Upbeat, pleasant way of speaking, laughing", "1"),
    ("sad", "Sad", "primary", "Crying, dampened mood, lack of energy", "2"),
    ("angry", "Angry", "primary", "Speaking harshly, yelling", "3"),
    ("neutral", "Neutral", "primary", "No emotional state in particular", "4"),
    ("fear", "Fear", "secondary", "Rapid breathing, trembling voice", "5"),
    ("disgust", "Disgust", "secondary", "Revulsion, contempt", "6"),
    ("surprise", "Surprise", "secondary", "Yelling, screaming, gasping", "7"),
]
GENDERS = [("male", "Male", "m"), ("female", "Female", "f")]


DEFAULT_GUIDELINE = """Label the emotion you HEAR, not the words or the scene. One emotion per clip.
Primary: Happy (upbeat, pleasant way of speaking, laughing), Sad (crying, dampened mood, lack of
energy), Angry (speaking harshly, yelling), Neutral (no emotional state in particular).
Secondary: Fear (rapid breathing, trembling voice), Disgust, Surprise (yelling, screaming, gasping).
Also give the speaker's gender. If the clip has two speakers, music, no speech, or is cut inside a
word, flag it back to validation instead of labelling it."""


def ensure_guideline() -> None:
    """Create the default rejection reasons and label schema if missing (idempotent).

    The default label mappings of importable corpora are the releases app's
    (`releases.importers.label_mappings_ensure`).
    """
    from importlib import import_module

    from annotation.models import LabelOption, RejectionReason

    import_module("annotation.migrations.0002_guideline_data").seed(RejectionReason, LabelOption)
