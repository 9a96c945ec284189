"""The corpus guideline as data: rejection reasons and the default label schema (editable)."""

from django.db import migrations

from annotation.guideline import EMOTIONS, GENDERS, REASONS


def forwards(apps, schema_editor):
    seed(apps.get_model("annotation", "RejectionReason"), apps.get_model("annotation", "LabelOption"))


def seed(RejectionReason, LabelOption):
    """Also used by annotation.guideline.ensure_guideline (tests flush tables)."""
    for order, (code, text) in enumerate(REASONS, start=1):
        RejectionReason.objects.get_or_create(code=code, defaults={"text": text, "order": order})
    for order, (code, name, tier, description, key) in enumerate(EMOTIONS, start=1):
        LabelOption.objects.get_or_create(
            kind="emotion",
            code=code,
            defaults={
                "name": name,
                "tier": tier,
                "description": description,
                "shortcut": key,
                "order": order,
            },
        )
    for order, (code, name, key) in enumerate(GENDERS, start=1):
        LabelOption.objects.get_or_create(
            kind="gender", code=code, defaults={"name": name, "shortcut": key, "order": order}
        )


class Migration(migrations.Migration):
    dependencies = [("annotation", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
