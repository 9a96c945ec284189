"""Every job row counts its claims (core.jobs.job_claim): a job whose worker is lost is taken again
until TUNISER_JOB_MAX_ATTEMPTS, then failed with a message."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="releaseexport",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
