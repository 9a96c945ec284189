"""`manage.py ingest`: files and folders, one line per recording, a summary, non-zero on failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from corpus.models import Recording, Source
from corpus.tests import media_files as mf

# These tests need clips, not voices (corpus/tests/test_speakers*.py test the speaker step).
pytestmark = pytest.mark.usefixtures("no_speaker_step")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path, data_dir) -> Path:
    """A season folder: two episodes in sub-folders (wav, mp3), a duplicate, and two bad files."""
    root = tmp_path / "season1"
    (root / "e01").mkdir(parents=True)
    (root / "e02").mkdir()
    a, rate = mf.ravdess_speech(data_dir, n=3, offset=0)
    b, _ = mf.ravdess_speech(data_dir, n=3, offset=100)
    wav = mf.write_wav(root / "e01" / "part1.wav", a, rate)
    mf.transcode(mf.write_wav(tmp_path / "b.wav", b, rate), root / "e02" / "part1.mp3")
    (root / "e02" / "copy-of-part1.wav").write_bytes(wav.read_bytes())
    (root / "e02" / "broken.mp3").write_text("definitely not an mp3\n" * 30)
    (root / "e02" / "notes.txt").write_text("ignored: not an audio extension")
    return root


@pytest.mark.django_db(transaction=True)
def test_ingest_a_folder_recursively_segmenting_in_process(folder, tmp_path, capsys):
    with pytest.raises(CommandError) as exc:
        call_command(
            "ingest",
            str(folder),
            str(tmp_path / "nope.wav"),
            "--source",
            "Nsibti Laaziza",
            "--episode",
            "S01",
            "--sync",
            "--no-progress",
        )
    out = capsys.readouterr().out

    assert exc.value.returncode == 1
    assert "5 path(s): 2 ingested, 1 duplicate, 2 failed" in str(exc.value)
    assert "nope.wav: does not exist" in str(exc.value)
    assert "broken.mp3" in str(exc.value) and "Not a readable audio or video file" in str(exc.value)
    assert out.count("INGESTED") == 2 and out.count("DUPLICATE") == 1 and out.count("FAILED") >= 1
    source = Source.objects.get(title="Nsibti Laaziza", episode="S01")
    good = Recording.objects.filter(source=source, status="segmented")
    assert good.count() == 2 and all(r.clips.count() >= 3 for r in good)
    # No audio stream in it: refused, nothing stored (the report names it).
    assert not Recording.objects.filter(original_name="broken.mp3").exists()


def test_the_command_exits_non_zero_in_a_real_process(tmp_path, data_dir):
    """Run as a user would, in its own process on a scratch database: exit code 1 and a summary."""
    samples, rate = mf.ravdess_speech(data_dir, n=2)
    good = mf.write_wav(tmp_path / "good.wav", samples, rate)
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "TUNISER_VAR_DIR": str(tmp_path / "var"),
    }
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True, env=env, cwd=REPO)

    proc = subprocess.run(
        [*manage, "ingest", str(good), str(tmp_path / "missing.mp3"), "--source", "Test", "--sync"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )

    assert proc.returncode == 1, proc.stderr
    assert "INGESTED" in proc.stdout and "clips" in proc.stdout
    assert "2 path(s): 1 ingested, 0 duplicate, 1 failed" in proc.stderr
    assert "missing.mp3: does not exist" in proc.stderr
