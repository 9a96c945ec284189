"""Every job row counts its claims (core.jobs.job_claim): a job whose worker is lost is taken again
until TUNISER_JOB_MAX_ATTEMPTS, then failed with a message."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0002_project_moved_job_status"),
    ]

    operations = [
        migrations.AddField(
            model_name="prelabeljob",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
