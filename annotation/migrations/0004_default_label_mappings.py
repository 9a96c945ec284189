"""Default label mappings of the importable corpora (editable afterwards in the admin)."""

from django.db import migrations

# corpus -> {original label: emotion code, or None to exclude}
MAPPINGS = {
    "ravdess": {
        "neutral": "neutral",
        "calm": "neutral",
        "happy": "happy",
        "sad": "sad",
        "angry": "angry",
        "fearful": "fear",
        "disgust": "disgust",
        "surprised": "surprise",
    },
    "emodb": {
        "anger": "angry",
        "boredom": None,
        "disgust": "disgust",
        "fear": "fear",
        "happiness": "happy",
        "sadness": "sad",
        "neutral": "neutral",
    },
    "tess": {
        "angry": "angry",
        "disgust": "disgust",
        "fear": "fear",
        "happy": "happy",
        "neutral": "neutral",
        "ps": "surprise",
        "sad": "sad",
    },
    "crema-d": {
        "ANG": "angry",
        "DIS": "disgust",
        "FEA": "fear",
        "HAP": "happy",
        "NEU": "neutral",
        "SAD": "sad",
    },
    "savee": {
        "a": "angry",
        "d": "disgust",
        "f": "fear",
        "h": "happy",
        "n": "neutral",
        "sa": "sad",
        "su": "surprise",
    },
}


def forwards(apps, schema_editor):
    LabelMapping = apps.get_model("annotation", "LabelMapping")
    LabelOption = apps.get_model("annotation", "LabelOption")
    emotions = {o.code: o for o in LabelOption.objects.filter(kind="emotion")}
    for corpus, rules in MAPPINGS.items():
        for original, code in rules.items():
            LabelMapping.objects.get_or_create(
                corpus=corpus,
                original_label=original,
                defaults={"emotion": emotions.get(code) if code else None, "excluded": code is None},
            )


class Migration(migrations.Migration):
    dependencies = [("annotation", "0003_consensus_releases")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
