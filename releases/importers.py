"""Import labelled corpora as clips with provenance and gold labels, so releases can merge corpora and
languages: the public corpora by their file names (RAVDESS, EmoDB, TESS, CREMA-D, SAVEE), a
label-per-folder tree, a manifest (CSV or JSON Lines), a Hugging Face `audiofolder` (the platform's
own exports among them) and any tree whose paths a pattern describes.

Each layout turns the corpus into entries, one per file or row: the file and what the corpus says
about it (`Parsed`: speaker, gender, original label, split, other metadata), or why it cannot be
imported (an unknown name, a bad manifest row, an augmented copy). One code path imports them all:
original labels map onto the project schema through LabelMapping rows (editable in the admin), and
unknown names, bad rows and unmapped labels are reported, never guessed.
"""

from __future__ import annotations

import csv
import io
import json
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
    """What a corpus says about one of its files (its name, folder, manifest row or metadata).

    Attributes:
        speaker: who speaks ("" when the corpus does not say).
        gender: a gender code ("male", "female") or "" when the corpus does not say.
        label: the corpus's own label (mapped through LabelMapping).
        split: "train", "validation" or "test" when the corpus puts the file in a split, else "".
        fold: the fold (0 .. k-1) of a k-fold release's export, or None.
        metadata: anything else it says ({column or field: value}; a transcript among them), kept
            on the clip's GoldLabel.
    """

    speaker: str
    gender: str
    label: str
    split: str = ""
    metadata: dict = field(default_factory=dict)
    fold: int | None = None


class ImportSkip(ValueError):
    """Why one entry of a corpus is not imported; the message says why."""


class UnknownName(ImportSkip):
    """A file name the format's parser does not recognise; the message says what was expected."""


class BadRow(ImportSkip):
    """A manifest or metadata row that cannot be imported (no path, file not found, empty label...)."""


class AugmentedCopy(ImportSkip):
    """An augmented copy in an exported release (augmented_copy > 0): not a recording of its own."""


@dataclass(frozen=True)
class Entry:
    """One file (or row) of a corpus, as a layout reads it.

    Attributes:
        name: how the report names it: the file's path relative to the corpus folder, or for a bad
            row "<table> row <n> (line <l>)".
        path: the audio file (None for a row that names none).
        parsed: what the corpus says about it, or None when `skip` says why it is skipped.
        skip: why it is not imported, or None.
    """

    name: str
    path: Path | None
    parsed: Parsed | None = None
    skip: ImportSkip | None = None


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
    "manifest": "Imported manifest",
    "audiofolder": "Imported audiofolder",
    "pattern": "Imported tree",
}
# The layouts that read their files' metadata from the corpus (a table, or a pattern) rather than
# from a published corpus's naming scheme: their licence is the curator's to give (--licence).
TABLE_FORMATS = ("manifest", "audiofolder", "pattern")
FORMATS = (*PARSERS, *TABLE_FORMATS)
# Formats whose labels may already be emotion codes of the schema: a code maps onto itself when
# the format has no LabelMapping for it (a folder named "angry", our own exports).
CODE_LABEL_FORMATS = ("folder", *TABLE_FORMATS)

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
UNKNOWN_LICENCE = (
    "Unknown: a corpus imported without a licence. Record the licence of this audio on its source "
    "(admin, Sources) before releasing it."
)
LICENCES.update(dict.fromkeys(TABLE_FORMATS, UNKNOWN_LICENCE))


def corpus_licence(source) -> str:
    """The licence text to print for `source`: its licence note, except the placeholder that
    imports wrote before LICENCES existed ("Imported RAVDESS corpus"), read as that corpus's
    licence."""
    note = (source.licence_note or "").strip()
    for fmt, title in TITLES.items():
        if note == f"Imported {title} corpus":
            return LICENCES[fmt]
    return note


# --- layouts: a corpus as entries (file, what the corpus says about it) --------------------------

SPLIT_NAMES = {"train": "train", "validation": "validation", "valid": "validation", "val": "validation"}
SPLIT_NAMES |= {"dev": "validation", "test": "test"}
GENDER_ALIASES = {"m": "male", "f": "female", "man": "male", "woman": "female"}
MANIFEST_EXTENSIONS = (".csv", ".jsonl", ".json-lines")
# Columns (or pattern fields) with a place of their own; every other one is kept as metadata
# (our own exports' agreement, votes, soft_label, ratings, n_raters, escalated among them).
MANIFEST_FIELDS = {"path", "label", "speaker", "gender", "split", "fold"}
AUDIOFOLDER_FIELDS = {"file_name", "label", "speaker", "gender", "split", "fold", "augmented_copy"}
PATTERN_FIELDS = {"label", "speaker", "gender", "split"}
SPEAKER_MAX = Clip._meta.get_field("speaker").max_length
LABEL_MAX = LabelMapping._meta.get_field("original_label").max_length


def _audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _name_entries(root: Path, parse: Callable[[Path], Parsed]) -> list[Entry]:
    """Every audio file under `root`, in path order, parsed by its name (the published corpora)."""
    entries = []
    for path in _audio_files(root):
        try:
            entries.append(Entry(str(path.relative_to(root)), path, parse(path)))
        except UnknownName as exc:
            entries.append(Entry(str(path.relative_to(root)), path, skip=exc))
    return entries


def _text(value) -> str:
    """A cell as text: "" for a missing cell (None), numbers of a JSON line as written."""
    return "" if value is None else str(value).strip()


def _parsed(values: dict, *, known: set[str], genders: set[str], folder_split: str = "") -> Parsed:
    """A Parsed from a row's (or a pattern match's) values.

    Args:
        values: {column: value}; "label" must be there and non-empty.
        known: the columns with a place of their own; the others go to `metadata` (None left out).
        genders: the schema's gender codes.
        folder_split: the split the file's folders name, used when no `split` value is given.
    Returns:
        The Parsed: label in lower case, gender a code (m/f, man/woman read as male/female), split
        one of train/validation/test (valid, val, dev read as validation).
    Raises:
        ImportSkip: an empty label, a label or speaker too long to store, an unknown gender or split.
    """
    label = _text(values.get("label")).lower()
    if not label:
        raise ImportSkip("empty label")
    if len(label) > LABEL_MAX:
        raise ImportSkip(f"label longer than {LABEL_MAX} characters")
    speaker = _text(values.get("speaker"))
    if len(speaker) > SPEAKER_MAX:
        raise ImportSkip(f"speaker longer than {SPEAKER_MAX} characters")
    gender = _text(values.get("gender")).lower()
    gender = GENDER_ALIASES.get(gender, gender)
    if gender and gender not in genders:
        raise ImportSkip(f"unknown gender '{values.get('gender')}' (expected {', '.join(sorted(genders))})")
    split = _text(values.get("split")).lower()
    if split and split not in SPLIT_NAMES:
        raise ImportSkip(f"unknown split '{values.get('split')}' (expected train, validation or test)")
    fold_text = _text(values.get("fold"))
    fold = None
    if fold_text:
        # A k-fold release's export: every clip in "train", its fold in this column.
        if not fold_text.isdigit() or len(fold_text) > 4:
            raise ImportSkip(
                f"fold '{values.get('fold')}' is not a whole number from 0 (a k-fold release's fold)"
            )
        fold = int(fold_text)
    metadata = {k: v for k, v in values.items() if k not in known and v is not None}
    return Parsed(speaker, gender, label, SPLIT_NAMES.get(split, folder_split), metadata, fold)


@dataclass(frozen=True)
class Table:
    """A manifest or metadata file read whole: its columns, and its rows in file order.

    `rows` holds (row number from 1, line number, {column: value} or the reason the row cannot be
    read); a CSV's header is line 1 and not a row.
    """

    path: Path
    columns: list[str]
    rows: list[tuple[int, int, dict | str]]


def _no_constant(name: str):
    # NaN and Infinity are not JSON: the database's JSON columns refuse them.
    raise ValueError(f"{name} is not a JSON value")


def table_read(path: Path) -> Table:
    """Read a CSV (header row; UTF-8, a BOM allowed) or JSON Lines file (one object a line).

    Args:
        path: the file; ".csv" is read as CSV, anything else as JSON Lines.
    Returns:
        The Table. JSON Lines columns are every key of any row, in first-seen order; blank lines
        are not rows. A CSV row with more cells than the header, or a line that is not a JSON
        object, is a row holding its reason.
    Raises:
        ValueError: the file cannot be read, is not UTF-8, or is not CSV.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read '{path}': {exc}.") from exc
    rows: list[tuple[int, int, dict | str]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            columns = [c.strip() for c in next(reader, [])]
            start = reader.line_num + 1  # a row's first line (a quoted cell may span lines)
            for n, cells in enumerate(reader, start=1):
                line, start = start, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(columns):
                    rows.append((n, line, f"{len(cells)} cells for {len(columns)} columns"))
                else:
                    rows.append((n, line, dict(zip(columns, cells, strict=False))))
        except csv.Error as exc:
            raise ValueError(f"'{path}' is not a readable CSV file: {exc}.") from exc
        return Table(path, columns, rows)
    columns: dict[str, None] = {}
    n = 0
    # Lines end at "\n" only: JSON strings may hold other line separators (U+2028).
    for line_num, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        n += 1
        try:
            row = json.loads(line, parse_constant=_no_constant)
        except ValueError as exc:
            rows.append((n, line_num, f"not JSON ({getattr(exc, 'msg', exc)})"))
            continue
        if not isinstance(row, dict):
            rows.append((n, line_num, "not a JSON object"))
            continue
        columns.update(dict.fromkeys(row))
        rows.append((n, line_num, row))
    return Table(path, list(columns), rows)


def _require_columns(table: Table, needed: tuple[str, ...], where: str) -> None:
    if missing := [c for c in needed if c not in table.columns]:
        raise ValueError(
            f"{where} has no {' and no '.join(repr(c) for c in missing)} column "
            f"(its columns: {', '.join(table.columns) or 'none'})."
        )


def _gender_codes() -> set[str]:
    return set(LabelOption.objects.filter(kind=LabelOption.Kind.GENDER).values_list("code", flat=True))


def manifest_entries(manifest: Path) -> list[Entry]:
    """The rows of a manifest: CSV (.csv) or JSON Lines (.jsonl, .json-lines).

    Columns: `path` (relative to the manifest's folder, or absolute) and `label` are required;
    `speaker`, `gender` and `split` are optional; every other column (`transcript` among them)
    is kept as metadata.

    Args:
        manifest: the manifest file.
    Returns:
        One entry per row, in file order, named by its path relative to the manifest's folder; a
        row with no path, a file not found, an empty label, an unknown gender or split is a BadRow
        named "<manifest> row <n> (line <l>)".
    Raises:
        ValueError: not a file, an unknown extension, unreadable, or no `path` / `label` column
            (the message names the missing columns).
    """
    if not manifest.is_file():
        raise ValueError(f"'{manifest}' is not a file: --format manifest takes a CSV or JSON Lines file.")
    if manifest.suffix.lower() not in MANIFEST_EXTENSIONS:
        raise ValueError(
            f"'{manifest.name}': a manifest is a {', '.join(MANIFEST_EXTENSIONS)} file (chosen by extension)."
        )
    table = table_read(manifest)
    _require_columns(table, ("path", "label"), f"The manifest '{manifest.name}'")
    return _table_entries(table, root=manifest.parent, path_column="path", known=MANIFEST_FIELDS)


def _table_entries(
    table: Table, *, root: Path, path_column: str, known: set[str], split_of=None, label_of=None
) -> list[Entry]:
    """Entries of a manifest or metadata table; paths relative to the table's folder.

    `split_of(path)` gives the split a file's folders name ("" for none); `label_of(path)` the
    label when the table has no label column (audiofolder: the file's folder).
    """
    genders = _gender_codes()
    base = table.path.parent
    entries = []
    for n, line, row in table.rows:
        where = f"{table.path.relative_to(root).as_posix()} row {n} (line {line})"
        if isinstance(row, str):
            entries.append(Entry(where, None, skip=BadRow(row)))
            continue
        value = _text(row.get(path_column))
        path = base / value if value else None  # an absolute value stays itself
        try:
            # An export's augmented copy is no recording of its own, present or not.
            copy = _text(row.get("augmented_copy"))
            if copy not in ("", "0") and _copy_index(copy) > 0:
                entries.append(Entry(where, path, skip=AugmentedCopy(f"augmented copy {copy}")))
                continue
        except ImportSkip as exc:
            entries.append(Entry(where, path, skip=BadRow(str(exc))))
            continue
        if path is None:
            entries.append(Entry(where, None, skip=BadRow(f"no {path_column}")))
            continue
        if not path.is_file():
            entries.append(Entry(where, path, skip=BadRow(f"file not found: {value}")))
            continue
        values = dict(row)
        if label_of is not None and "label" not in table.columns:
            values["label"] = label_of(path)
        try:
            parsed = _parsed(
                values, known=known, genders=genders, folder_split=split_of(path) if split_of else ""
            )
        except ImportSkip as exc:
            entries.append(Entry(where, path, skip=BadRow(str(exc))))
            continue
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        entries.append(Entry(name, path, parsed))
    return entries


def _copy_index(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ImportSkip(f"augmented_copy '{value}' is not a whole number") from None


def audiofolder_entries(root: Path) -> list[Entry]:
    """A Hugging Face `audiofolder`: `metadata.csv` or `metadata.jsonl` files beside the audio
    (one per split folder in the platform's exports), each `file_name` relative to its metadata file.

    Columns: `file_name` is required; `label` (else the file's folder names the label, as
    `audiofolder` reads it), `speaker`, `gender`, `split` (else the first folder of the file's
    path named train, validation, valid, val, dev or test) have places of their own; rows with
    `augmented_copy` > 0 are skipped (an export's augmented training copies); every other column
    is kept as metadata. An audio file under `root` that no metadata file lists is an unknown name.

    Args:
        root: the folder (an unzipped export, or any audiofolder dataset).
    Returns:
        The entries of every metadata file (in path order, then row order), then the unlisted
        files.
    Raises:
        ValueError: no metadata file, a folder with both a metadata.csv and a metadata.jsonl, an
            unreadable one, or one without a `file_name` column.
    """
    tables = sorted(p for p in root.rglob("metadata.*") if p.is_file() and p.suffix in (".csv", ".jsonl"))
    if not tables:
        raise ValueError(f"No metadata.csv or metadata.jsonl under '{root}' (the audiofolder layout).")
    folders = Counter(p.parent for p in tables)
    if both := [str(f.relative_to(root)) for f, k in folders.items() if k > 1]:
        raise ValueError(f"Both a metadata.csv and a metadata.jsonl in: {', '.join(both)}; keep one.")

    def split_of(path: Path) -> str:
        for part in path.relative_to(root).parts[:-1] if path.is_relative_to(root) else ():
            if part.lower() in SPLIT_NAMES:
                return SPLIT_NAMES[part.lower()]
        return ""

    entries = []
    for path in tables:
        table = table_read(path)
        _require_columns(table, ("file_name",), f"'{path.relative_to(root)}'")
        entries += _table_entries(
            table,
            root=root,
            path_column="file_name",
            known=AUDIOFOLDER_FIELDS,
            split_of=split_of,
            label_of=lambda p: p.parent.name,
        )
    listed = {e.path.resolve() for e in entries if e.path is not None}
    for path in _audio_files(root):
        if path.resolve() not in listed:
            name = str(path.relative_to(root))
            entries.append(Entry(name, path, skip=UnknownName("not listed in any metadata file")))
    return entries


_FIELD = re.compile(r"\{([^{}]*)\}")


def pattern_compile(pattern: str) -> re.Pattern:
    """Compile a path pattern ("{speaker}/{*}_{label} ({*}).wav") to a regular expression.

    `{name}` captures a part of one path component (no "/"; name: letters, digits, "_"),
    `{*}` matches anything inside one component without capturing (as a shell's `*`), `{**}`
    anything across folders too, and the literal text between them must match exactly, except
    the extension, matched whatever its case. Where a path could be cut two ways, the earlier
    parts take as much as they can.

    Args:
        pattern: the pattern, "/" between folders, relative to the corpus folder.
    Returns:
        The compiled expression, to `fullmatch` a file's path relative to the corpus folder
        (POSIX separators); its named groups are the fields.
    Raises:
        ValueError: no `{label}` field, a field named twice, an empty or ill-formed field, or a
            stray brace.
    """
    parts, names, pos = [], set(), 0
    pattern = pattern.strip().removeprefix("./")

    def literal(text: str, last: bool) -> str:
        if "{" in text or "}" in text:
            raise ValueError(f"Stray brace in the pattern '{pattern}': fields are {{name}} or {{*}}.")
        stem, dot, ext = text.rpartition(".")
        if last and dot and ext and "/" not in ext:
            return re.escape(stem) + "(?i:" + re.escape(dot + ext) + ")"
        return re.escape(text)

    for m in _FIELD.finditer(pattern):
        parts.append(literal(pattern[pos : m.start()], last=False))
        name = m.group(1).strip()
        if name == "*":
            parts.append("[^/]*")
        elif name == "**":
            parts.append(".*")
        elif re.fullmatch(r"[A-Za-z_]\w*", name, flags=re.ASCII):
            if name in names:
                raise ValueError(f"The field {{{name}}} appears twice in the pattern '{pattern}'.")
            names.add(name)
            parts.append(f"(?P<{name}>[^/]+)")
        else:
            raise ValueError(
                f"'{{{m.group(1)}}}' in the pattern '{pattern}' is not a field: use {{name}} "
                "(letters, digits, _), {*} or {**}."
            )
        pos = m.end()
    parts.append(literal(pattern[pos:], last=True))
    if "label" not in names:
        raise ValueError(f"The pattern '{pattern}' has no {{label}} field: nothing would say the emotion.")
    return re.compile("".join(parts))


def pattern_entries(root: Path, pattern: str) -> list[Entry]:
    """Every audio file under `root`, in path order, read by a path pattern (`pattern_compile`).

    Fields `label`, `speaker`, `gender` and `split` have places of their own; any other field is
    kept as metadata.

    Args:
        root: the corpus folder.
        pattern: the pattern, e.g. "{speaker}/{*}_{label} ({*}).wav".
    Returns:
        One entry per file; a path the pattern does not match, or a match with an unknown gender
        or split, is an unknown name whose reason quotes the pattern.
    Raises:
        ValueError: from `pattern_compile`.
    """
    regex = pattern_compile(pattern)
    genders = _gender_codes()
    entries = []
    for path in _audio_files(root):
        name = path.relative_to(root).as_posix()
        m = regex.fullmatch(name)
        try:
            if m is None:
                raise UnknownName(f"does not match the pattern '{pattern}'")
            parsed = _parsed(m.groupdict(), known=PATTERN_FIELDS, genders=genders)
        except ImportSkip as exc:
            reason = str(exc) if isinstance(exc, UnknownName) else f"{exc} (pattern '{pattern}')"
            entries.append(Entry(name, path, skip=UnknownName(reason)))
            continue
        entries.append(Entry(name, path, parsed))
    return entries


def corpus_entries(*, fmt: str, root: Path, pattern: str | None = None) -> list[Entry]:
    """The entries of a corpus in format `fmt`, read whole before anything is written.

    Args:
        fmt: one of FORMATS.
        root: the corpus folder (the manifest file for "manifest").
        pattern: the path pattern, for "pattern" only.
    Returns:
        The entries, in the layout's order.
    Raises:
        ValueError: an unknown format, `root` not a folder (a file for "manifest"), a pattern
            missing or given to another format, or the layout's own refusals (missing columns, a
            pattern without {label}...).
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format '{fmt}'. Choose from: {', '.join(FORMATS)}.")
    if (fmt == "pattern") != bool(pattern):
        raise ValueError(
            '--format pattern needs --pattern, e.g. "{speaker}/{*}_{label} ({*}).wav".'
            if fmt == "pattern"
            else f"--pattern is for --format pattern, not {fmt}."
        )
    root = Path(root)
    if fmt == "manifest":
        return manifest_entries(root)
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a folder.")
    if fmt == "audiofolder":
        return audiofolder_entries(root)
    if fmt == "pattern":
        return pattern_entries(root, pattern)
    return _name_entries(root, PARSERS[fmt])


@dataclass
class ImportReport:
    """What `corpus_import` did, file by file: counts, and the names and reasons it skipped.

    Attributes:
        imported: clips created.
        duplicates: files whose bytes were already ingested before this import.
        duplicates_within: (file, the earlier file of this import with the same bytes), relative
            paths: a corpus that holds one recording twice (not imported twice).
        excluded: {original label: files} skipped because the mapping excludes the label.
        unknown_names: "relative path: reason" for names the parser (or pattern) refused.
        bad_rows: "<table> row <n> (line <l>): reason" for manifest or metadata rows that name
            no file, a file not found, an empty label, an unknown gender or split.
        unmapped: {original label: files} with no mapping.
        failed: "relative path: reason" for files refused or undecodable.
        by_label: {emotion code: clips imported}.
        augmented_skipped: rows of augmented copies (an export's augmented_copy > 0) skipped.
        splits: {clip id: split} for the clips of this import (new, or found again as duplicates)
            whose corpus names a split: the assignment of `release_create_from_assignment`.
        folds: {clip id: fold} for those whose corpus also names a fold (a k-fold release's
            export): the folds of `release_create_from_assignment`.
    """

    imported: int = 0
    duplicates: int = 0
    duplicates_within: list[tuple[str, str]] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)  # original label -> files skipped by mapping
    unknown_names: list[str] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)
    unmapped: Counter = field(default_factory=Counter)  # original label -> files
    failed: list[str] = field(default_factory=list)
    by_label: Counter = field(default_factory=Counter)
    augmented_skipped: int = 0
    splits: dict[int, str] = field(default_factory=dict)
    folds: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if no file was skipped for an unknown name, a bad row, an unmapped label or a
        failure (duplicates, excluded labels and augmented copies are not problems)."""
        return not (self.unknown_names or self.bad_rows or self.unmapped or self.failed)


def corpus_import(
    *,
    project: Project,
    fmt: str,
    root: Path,
    source_title: str | None = None,
    licence: str | None = None,
    pattern: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import every file of a corpus in format `fmt` as gold-labelled clips.

    1. Read the corpus whole (`corpus_entries`: names parsed, manifest or metadata rows read, paths
       matched against the pattern); a refusal there (missing columns, no {label}...) writes
       nothing.
    2. Per entry: an unknown name or bad row is reported and skipped, an augmented copy counted.
    3. Map its label (LabelMapping of the format); excluded labels are counted and skipped, a
       label with no mapping is reported and skipped — never guessed. In the folder, manifest,
       audiofolder and pattern formats, a label that is an active emotion code maps onto itself
       when the format has no mapping for it.
    4. Ingest the file (same service as every other way in; duplicates recognised), make one
       clip of it with the speaker, and record its gold label (with the corpus's split and other
       metadata) and consensus, in one transaction per file, so an interrupted import leaves only
       whole files behind.

    Duplicates (same bytes already ingested into this project) are counted, not imported again
    (the same file may enter two projects); a file with the same bytes as an earlier file of this
    same import is reported by name (`duplicates_within`), not as "already imported". A file that
    does not decode stays stored as a failed recording and is reported in `failed`, as is a file
    `recording_ingest` refuses.

    Args:
        project: the project the clips join.
        fmt: one of FORMATS ("ravdess", "emodb", "tess", "crema-d", "savee", "folder",
            "manifest", "audiofolder", "pattern").
        root: the corpus folder; for "manifest", the manifest file.
        source_title: the Source title; default the format's title (TITLES).
        licence: the Source's licence note, for the folder, manifest, audiofolder and pattern
            formats (default LICENCES: "Unknown..."); the published corpora's are known.
        pattern: the path pattern of the "pattern" format (`pattern_compile`).
        progress: called as progress(n, total) before each entry.
    Returns:
        The ImportReport.
    Raises:
        ValueError: an unknown format, a licence given for a published corpus, or a refusal of
            `corpus_entries`.
    """
    if licence is not None and fmt in PARSERS and fmt != "folder":
        raise ValueError(
            f"The licence of {TITLES[fmt]} is known; --licence is for folder, manifest, "
            "audiofolder and pattern imports."
        )
    entries = corpus_entries(fmt=fmt, root=root, pattern=pattern)
    mapping = {m.original_label: m for m in LabelMapping.objects.filter(corpus=fmt).select_related("emotion")}
    genders = {o.code: o for o in LabelOption.objects.filter(kind="gender")}
    codes = {}
    if fmt in CODE_LABEL_FORMATS:
        codes = {o.code: o for o in LabelOption.objects.filter(kind="emotion", active=True)}
    # The Source is made with the first file ingested: an import that ingests nothing (no file
    # matches the pattern, every row is bad, every label unmapped) writes nothing.
    source = None
    report = ImportReport()
    # Recording id -> the file of this import it came from: tells a pair of identical files inside
    # the corpus from a file imported by an earlier run.
    ingested_here: dict[int, str] = {}
    for n, entry in enumerate(entries, start=1):
        if progress:
            progress(n, len(entries))
        if isinstance(entry.skip, AugmentedCopy):
            report.augmented_skipped += 1
            continue
        if isinstance(entry.skip, BadRow):
            report.bad_rows.append(f"{entry.name}: {entry.skip}")
            continue
        if entry.skip is not None:
            report.unknown_names.append(f"{entry.name}: {entry.skip}")
            continue
        parsed = entry.parsed
        rule = mapping.get(parsed.label)
        if rule is None and parsed.label in codes:
            emotion = codes[parsed.label]
        elif rule is None:
            report.unmapped[parsed.label] += 1
            continue
        elif rule.excluded or rule.emotion is None:
            report.excluded[parsed.label] += 1
            continue
        else:
            emotion = rule.emotion
        if source is None:
            source = corpus_services.source_get_or_create(
                project=project,
                title=source_title or TITLES[fmt],
                kind="corpus",
                licence_note=(licence or "").strip() or LICENCES[fmt],
            )
        try:
            with transaction.atomic():
                result = corpus_services.recording_ingest(source=source, path=entry.path, segment=False)
                if result.duplicate and result.recording.pk in ingested_here:
                    report.duplicates_within.append((entry.name, ingested_here[result.recording.pk]))
                    continue
                if result.duplicate:
                    report.duplicates += 1
                    # Imported before (an earlier run of this import): its clip keeps its place
                    # in the split the corpus names.
                    earlier = Clip.objects.filter(recording=result.recording, gold_label__isnull=False)
                    if parsed.split and (clip_id := earlier.values_list("pk", flat=True).first()):
                        report.splits[clip_id] = parsed.split
                        if parsed.fold is not None:
                            report.folds[clip_id] = parsed.fold
                    continue
                ingested_here[result.recording.pk] = entry.name
                if result.failed:
                    report.failed.append(f"{entry.name}: {result.recording.error}")
                    continue
                clip = corpus_services.clip_create_whole(
                    recording=result.recording, speaker=parsed.speaker, status=Clip.Status.LABELLED
                )
                gender = genders.get(parsed.gender)
                GoldLabel.objects.create(
                    clip=clip,
                    corpus=fmt,
                    original_label=parsed.label,
                    emotion=emotion,
                    gender=gender,
                    split=parsed.split,
                    metadata=parsed.metadata,
                )
                consensus.consensus_set_gold(clip_id=clip.pk, emotion=emotion, gender=gender)
        except corpus_services.IngestRejected as exc:
            report.failed.append(f"{entry.name}: {exc.message}")
            continue
        report.imported += 1
        report.by_label[emotion.code] += 1
        if parsed.split:
            report.splits[clip.pk] = parsed.split
            if parsed.fold is not None:
                report.folds[clip.pk] = parsed.fold
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
