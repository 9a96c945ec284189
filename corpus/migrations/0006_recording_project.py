"""A file is unique per project, not per installation: Recording gains its project (filled from
its source), and the sha256 uniqueness becomes (project, sha256)."""

import django.db.models.deletion
from django.db import migrations, models


def fill_project(apps, schema_editor):
    Recording = apps.get_model("corpus", "Recording")
    for source_id, project_id in (
        apps.get_model("corpus", "Source").objects.values_list("id", "project_id").iterator()
    ):
        Recording.objects.filter(source_id=source_id).update(project_id=project_id)


class Migration(migrations.Migration):
    dependencies = [("corpus", "0005_project_state_removed"), ("core", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="recording",
            name="project",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="recordings",
                to="core.project",
            ),
        ),
        migrations.RunPython(fill_project, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="recording",
            name="project",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="recordings", to="core.project"
            ),
        ),
        migrations.AlterField(
            model_name="recording",
            name="sha256",
            field=models.CharField(db_index=True, max_length=64),
        ),
        # The media route finds a file's owner by its storage name (core.files).
        migrations.AlterField(
            model_name="recording",
            name="original",
            field=models.FileField(db_index=True, max_length=500, upload_to="recordings/original/%Y/%m/"),
        ),
        migrations.AlterField(
            model_name="recording",
            name="normalised",
            field=models.FileField(
                blank=True, db_index=True, max_length=500, upload_to="recordings/normalised/%Y/%m/"
            ),
        ),
        migrations.AlterField(
            model_name="clip",
            name="audio",
            field=models.FileField(db_index=True, max_length=500, upload_to="clips/"),
        ),
        migrations.AddConstraint(
            model_name="recording",
            constraint=models.UniqueConstraint(
                fields=("project", "sha256"), name="recording_unique_file_per_project"
            ),
        ),
    ]
