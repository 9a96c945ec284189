"""Imported clips keep their corpus's split and the rest of its metadata (manifest, audiofolder and
path-pattern imports: releases.importers)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0002_releaseexport_attempts"),
    ]

    operations = [
        migrations.AddField(
            model_name="goldlabel",
            name="metadata",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="goldlabel",
            name="split",
            field=models.CharField(blank=True, max_length=10),
        ),
    ]
