"""Import labelled public corpora (RAVDESS, EmoDB, TESS, CREMA-D, SAVEE, a label-per-folder tree)
as clips with provenance and gold labels, so releases can merge corpora and languages.

Each format names its files its own way; a parser turns a path into (speaker, gender, original
label) or says why it cannot. Original labels map onto the project schema through LabelMapping
rows (editable in the admin). Unknown file names and unmapped labels are reported, never guessed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from annotation import consensus
from annotation.models import LabelOption
from core.models import Project
from corpus import services as corpus_services
from corpus.models import Clip
from releases.models import GoldLabel, LabelMapping

AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg"}


@dataclass(frozen=True)
class Parsed:
    """What a corpus file's name (or folder) says about it."""

    speaker: str
    gender: str  # "male", "female" or "" when the corpus does not say
    label: str  # the corpus's own label


class UnknownName(ValueError):
    """A file name the format's parser does not recognise; the message says what was expected."""


RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}


def parse_ravdess(path: Path) -> Parsed:
    """RAVDESS (Livingstone & Russo 2018): MM-VC-EE-II-SS-RR-AA, e.g. 03-01-05-01-02-01-12.wav.

    EE is the emotion (RAVDESS_EMOTIONS), AA the actor: odd actors are male, even female.

    Args:
        path: the file; only its stem is read.
    Returns:
        Parsed("ravdess-AA", gender, RAVDESS emotion name).
    Raises:
        UnknownName: not such a name, an unknown emotion code, or a song (vocal channel 02).
    """
    m = re.fullmatch(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)", path.stem)
    if not m or m.group(3) not in RAVDESS_EMOTIONS:
        raise UnknownName("not a RAVDESS name (MM-VC-EE-II-SS-RR-AA)")
    if m.group(2) != "01":
        raise UnknownName("RAVDESS song (vocal channel 02), not speech")
    actor = int(m.group(7))
    return Parsed(f"ravdess-{actor:02d}", "male" if actor % 2 else "female", RAVDESS_EMOTIONS[m.group(3)])


EMODB_EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
EMODB_MALE = {"03", "10", "11", "12", "15"}
EMODB_FEMALE = {"08", "09", "13", "14", "16"}


def parse_emodb(path: Path) -> Parsed:
    """EmoDB, Berlin Database of Emotional Speech (Burkhardt et al. 2005): SSTTTEV, e.g. 03a01Fa.

    SS is the speaker (gender from EMODB_MALE / EMODB_FEMALE), TTT the text, E the German
    emotion letter (EMODB_EMOTIONS), V the version.

    Args:
        path: the file; only its stem is read.
    Returns:
        Parsed("emodb-SS", gender, English emotion name).
    Raises:
        UnknownName: not such a name, an unknown emotion letter or speaker.
    """
    m = re.fullmatch(r"(\d\d)([a-z]\d\d)([A-Z])([a-z])", path.stem)
    if not m or m.group(3) not in EMODB_EMOTIONS or m.group(1) not in EMODB_MALE | EMODB_FEMALE:
        raise UnknownName("not an EmoDB name (SSTTTEV)")
    speaker = m.group(1)
    return Parsed(
        f"emodb-{speaker}", "male" if speaker in EMODB_MALE else "female", EMODB_EMOTIONS[m.group(3)]
    )


def parse_tess(path: Path) -> Parsed:
    """TESS, Toronto emotional speech set (Dupuis & Pichora-Fuller 2010): OAF|YAF_word_emotion.

    Two female speakers (older and younger); "ps" is pleasant surprise. Case-insensitive.

    Args:
        path: the file; only its stem is read.
    Returns:
        Parsed("tess-OAF" or "tess-YAF", "female", emotion in lower case).
    Raises:
        UnknownName: not such a name.
    """
    m = re.fullmatch(
        r"(OAF|YAF)_\w+?_(angry|disgust|fear|happy|neutral|ps|sad)", path.stem, flags=re.IGNORECASE
    )
    if not m:
        raise UnknownName("not a TESS name (OAF|YAF_word_emotion)")
    return Parsed(f"tess-{m.group(1).upper()}", "female", m.group(2).lower())


def parse_cremad(path: Path) -> Parsed:
    """CREMA-D (Cao et al. 2014): ActorID_Sentence_Emotion_Level, e.g. 1001_DFA_ANG_XX.

    Args:
        path: the file; only its stem is read.
    Returns:
        Parsed("cremad-<actor>", "" (gender is not in the name), the three-letter emotion).
    Raises:
        UnknownName: not such a name.
    """
    m = re.fullmatch(r"(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_(LO|MD|HI|XX|X)", path.stem)
    if not m:
        raise UnknownName("not a CREMA-D name (1001_DFA_ANG_XX)")
    # Gender lives in CREMA-D's VideoDemographics.csv, not in the name: left unknown.
    return Parsed(f"cremad-{m.group(1)}", "", m.group(3))


def parse_savee(path: Path) -> Parsed:
    """SAVEE, Surrey Audio-Visual Expressed Emotion (Haq & Jackson 2009): SP_eNN, e.g. DC_a01.

    Four male speakers (DC, JE, JK, KL); emotion a, d, f, h, n, sa or su.

    Args:
        path: the file; only its stem is read.
    Returns:
        Parsed("savee-SP", "male", the emotion letter(s)).
    Raises:
        UnknownName: not such a name.
    """
    m = re.fullmatch(r"(DC|JE|JK|KL)_(a|d|f|h|n|sa|su)(\d\d)", path.stem)
    if not m:
        raise UnknownName("not a SAVEE name (DC_a01)")
    return Parsed(f"savee-{m.group(1)}", "male", m.group(2))


def parse_folder(path: Path) -> Parsed:
    """<root>/<label>/<file>: the folder names the label; speakers are unknown.

    Args:
        path: the file.
    Returns:
        Parsed("", "", the parent folder's name in lower case); never raises.
    """
    return Parsed("", "", path.parent.name.lower())


PARSERS: dict[str, Callable[[Path], Parsed]] = {
    "ravdess": parse_ravdess,
    "emodb": parse_emodb,
    "tess": parse_tess,
    "crema-d": parse_cremad,
    "savee": parse_savee,
    "folder": parse_folder,
}
TITLES = {
    "ravdess": "RAVDESS",
    "emodb": "EmoDB",
    "tess": "TESS",
    "crema-d": "CREMA-D",
    "savee": "SAVEE",
    "folder": "Imported folder",
}

# The licence of each importable corpus, as its authors publish it: the imported Source's
# licence_note, printed in every export's data card (../shared/data/README.md for the two the
# tests use). A folder of unknown origin says so, so that nobody releases it by mistake.
LICENCES = {
    "ravdess": "CC BY-NC-SA 4.0 (attribution, non-commercial, share-alike). Livingstone SR, Russo FA "
    "(2018) The Ryerson Audio-Visual Database of Emotional Speech and Song (RAVDESS). PLoS ONE 13(5): "
    "e0196391.",
    "emodb": "Released freely by its authors (Burkhardt F, Paeschke A, Rolfes M, Sendlmeier W, Weiss B "
    "(2005) A database of German emotional speech. Interspeech 2005); packaged by others under CC0 1.0.",
    "tess": "CC BY-NC-ND 4.0 (attribution, non-commercial, no derivatives). Dupuis K, Pichora-Fuller MK "
    "(2010) Toronto emotional speech set (TESS), University of Toronto.",
    "crema-d": "Open Database License (ODbL) 1.0; its contents under the Database Contents License "
    "(DbCL) 1.0. Cao H et al. (2014) CREMA-D: Crowd-sourced Emotional Multimodal Actors Dataset. IEEE "
    "Transactions on Affective Computing 5(4).",
    "savee": "Free for research use, from the University of Surrey (Haq S, Jackson PJB (2009) Speaker-"
    "dependent audio-visual emotion recognition. AVSP 2009); ask its authors before any other use.",
    "folder": "Unknown: a folder imported without a licence. Record the licence of this audio on its "
    "source (admin, Sources) before releasing it.",
}


def corpus_licence(source) -> str:
    """The licence text to print for `source`: its licence note, except the placeholder that
    imports wrote before LICENCES existed ("Imported RAVDESS corpus"), read as that corpus's
    licence."""
    note = (source.licence_note or "").strip()
    for fmt, title in TITLES.items():
        if note == f"Imported {title} corpus":
            return LICENCES[fmt]
    return note


@dataclass
class ImportReport:
    """What `corpus_import` did, file by file: counts, and the names and reasons it skipped.

    Attributes:
        imported: clips created.
        duplicates: files whose bytes were already ingested before this import.
        duplicates_within: (file, the earlier file of this import with the same bytes), relative
            paths: a corpus that holds one recording twice (not imported twice).
        excluded: {original label: files} skipped because the mapping excludes the label.
        unknown_names: "relative path: reason" for names the parser refused.
        unmapped: {original label: files} with no mapping.
        failed: "relative path: reason" for files refused or undecodable.
        by_label: {emotion code: clips imported}.
    """

    imported: int = 0
    duplicates: int = 0
    duplicates_within: list[tuple[str, str]] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)  # original label -> files skipped by mapping
    unknown_names: list[str] = field(default_factory=list)
    unmapped: Counter = field(default_factory=Counter)  # original label -> files
    failed: list[str] = field(default_factory=list)
    by_label: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """True if no file was skipped for an unknown name, an unmapped label or a failure
        (duplicates and excluded labels are not problems)."""
        return not (self.unknown_names or self.unmapped or self.failed)


def corpus_import(
    *,
    project: Project,
    fmt: str,
    root: Path,
    source_title: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import every audio file under `root` in format `fmt` as gold-labelled clips.

    1. Parse each name; an unknown name is reported and skipped.
    2. Map its label (LabelMapping of the format); excluded labels are counted and skipped, a
       label with no mapping is reported and skipped — never guessed.
    3. Ingest the file (same service as every other way in; duplicates recognised), make one
       clip of it with the speaker, and record its gold label and consensus, in one transaction
       per file, so an interrupted import leaves only whole files behind.

    Files are those under `root` (recursively) with an extension in AUDIO_EXTENSIONS, in path
    order. The folder format also accepts a folder named after an active emotion code when no
    mapping exists. Duplicates (same bytes already ingested into this project) are counted, not
    imported again (the same file may enter two projects); a file with the same bytes as an
    earlier file of this same import is reported by name (`duplicates_within`), not as "already
    imported". A file that does not decode stays stored as a failed recording and is reported in
    `failed`, as is a file `recording_ingest` refuses.

    Args:
        project: the project the clips join.
        fmt: a key of PARSERS ("ravdess", "emodb", "tess", "crema-d", "savee", "folder").
        root: the corpus folder.
        source_title: the Source title; default the format's title (TITLES).
        progress: called as progress(n, total) before each file.
    Returns:
        The ImportReport.
    Raises:
        ValueError: an unknown format, or `root` is not a folder.
    """
    if fmt not in PARSERS:
        raise ValueError(f"Unknown format '{fmt}'. Choose from: {', '.join(PARSERS)}.")
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a folder.")
    parse = PARSERS[fmt]
    mapping = {m.original_label: m for m in LabelMapping.objects.filter(corpus=fmt).select_related("emotion")}
    genders = {o.code: o for o in LabelOption.objects.filter(kind="gender")}
    if fmt == "folder":
        codes = {o.code: o for o in LabelOption.objects.filter(kind="emotion", active=True)}
    source = corpus_services.source_get_or_create(
        project=project,
        title=source_title or TITLES[fmt],
        kind="corpus",
        licence_note=LICENCES[fmt],
    )
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    report = ImportReport()
    # Recording id -> the file of this import it came from: tells a pair of identical files inside
    # the corpus from a file imported by an earlier run.
    ingested_here: dict[int, str] = {}
    for n, path in enumerate(files, start=1):
        if progress:
            progress(n, len(files))
        try:
            parsed = parse(path)
        except UnknownName as exc:
            report.unknown_names.append(f"{path.relative_to(root)}: {exc}")
            continue
        rule = mapping.get(parsed.label)
        if rule is None and fmt == "folder" and parsed.label in codes:
            emotion = codes[parsed.label]
        elif rule is None:
            report.unmapped[parsed.label] += 1
            continue
        elif rule.excluded or rule.emotion is None:
            report.excluded[parsed.label] += 1
            continue
        else:
            emotion = rule.emotion
        try:
            with transaction.atomic():
                result = corpus_services.recording_ingest(source=source, path=path, segment=False)
                if result.duplicate and result.recording.pk in ingested_here:
                    report.duplicates_within.append(
                        (str(path.relative_to(root)), ingested_here[result.recording.pk])
                    )
                    continue
                if result.duplicate:
                    report.duplicates += 1
                    continue
                ingested_here[result.recording.pk] = str(path.relative_to(root))
                if result.failed:
                    report.failed.append(f"{path.relative_to(root)}: {result.recording.error}")
                    continue
                clip = corpus_services.clip_create_whole(
                    recording=result.recording, speaker=parsed.speaker, status=Clip.Status.LABELLED
                )
                gender = genders.get(parsed.gender)
                GoldLabel.objects.create(
                    clip=clip, corpus=fmt, original_label=parsed.label, emotion=emotion, gender=gender
                )
                consensus.consensus_set_gold(clip_id=clip.pk, emotion=emotion, gender=gender)
        except corpus_services.IngestRejected as exc:
            report.failed.append(f"{path.relative_to(root)}: {exc.message}")
            continue
        report.imported += 1
        report.by_label[emotion.code] += 1
    return report


def label_mappings_ensure() -> int:
    """Create the default label mappings of the importable corpora where missing (idempotent).

    The defaults are those of migration annotation 0004 (RAVDESS, EmoDB, TESS, CREMA-D, SAVEE);
    the label schema must exist first (`annotation.guideline.ensure_guideline`).

    Returns:
        The number of mappings created.
    """
    from importlib import import_module

    defaults = import_module("annotation.migrations.0004_default_label_mappings").MAPPINGS
    emotions = {o.code: o for o in LabelOption.objects.filter(kind=LabelOption.Kind.EMOTION)}
    created = 0
    for corpus, rules in defaults.items():
        for original, code in rules.items():
            _, new = LabelMapping.objects.get_or_create(
                corpus=corpus,
                original_label=original,
                defaults={"emotion": emotions.get(code) if code else None, "excluded": code is None},
            )
            created += new
    return created
