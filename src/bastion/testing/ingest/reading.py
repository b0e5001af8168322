"""Reading bulk files: whole lines in chunks, parsed by polars into string columns, and the
checks of values that need no database (dates, flags, lengths)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import polars as pl
from django.utils.translation import gettext_lazy as _

from bastion.core import clock, inputs, textfile
from bastion.core import sql as core_sql
from bastion.core.files import FileRejected, Problem
from bastion.testing.models import Result

CHUNK_BYTES = 16 * 1024 * 1024  # ~200,000 records of ~80 bytes
SCAN_COLUMNS = ("resident", "id_number", "tube", "site", "scanned_at", "sampler", "client_key", "retest")
RESULT_COLUMNS = ("tube", "result", "resulted_at", "lab", "ct")
ALIASES = {"barcode": "tube"}
RESULT_WORDS = {
    "negative": Result.NEGATIVE,
    "positive": Result.POSITIVE,
    "invalid": Result.INVALID,
    "阴性": Result.NEGATIVE,
    "阳性": Result.POSITIVE,
    "无效": Result.INVALID,
}
TRUE_WORDS = ("1", "true", "yes", "y")
FALSE_WORDS = ("0", "false", "no", "n")
# Why a record was not taken -> the exception kind it is listed under. `repeat` is not listed:
# the record is already there (a re-sent file, a retried device).


class IngestFileRejected(FileRejected):
    """A file whose header (CSV) or format cannot be read: nothing was written."""

    code = "ingest_file_rejected"
    summary = _("The file was rejected with %(count)d problems; nothing was loaded.")


Progress = Callable[[int, int], None]  # (bytes read, records read)

# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Whole records of the file as string columns, `line` (1-based, as an editor shows it) and
    `bad` (why the record is unreadable, else null). Blank lines are dropped."""

    frame: pl.DataFrame
    bytes_read: int


def _format_of(filename: str, head: bytes) -> str:
    name = filename.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    return "ndjson" if head.lstrip().startswith(b"{") else "csv"


def _blocks(stream: IO[bytes], chunk_bytes: int) -> Iterator[tuple[int, int, bytes, int]]:
    """(number of the block's first line, its byte offset in the file, whole lines ending in a
    newline, bytes read so far). A last line without its newline comes alone, in a block of its
    own."""
    line, rest, read, start = 1, b"", 0, 0
    while True:
        data = stream.read(chunk_bytes)
        if not data:
            break
        if read == 0 and data.startswith(textfile.BOM):
            data = data[len(textfile.BOM) :]
            start = len(textfile.BOM)
        read += len(data)
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        block, rest = data[: cut + 1], data[cut + 1 :]
        yield line, start, block, read
        line += block.count(b"\n")
        start += len(block)
    if rest:
        yield line, start, rest, read


def read_chunks(
    stream: IO[bytes],
    *,
    filename: str,
    columns: Sequence[str],
    required: Sequence[str],
    chunk_bytes: int,
    encoding: str = "utf-8",
) -> Iterator[Chunk]:
    """The file's records, chunk by chunk. Text is read strictly in `encoding` (one of
    `textfile.ENCODINGS`), never guessed: a line that does not decode is an unreadable record,
    and a file that does not read as UTF-8 at all is refused before anything is written."""
    blocks = _blocks(stream, chunk_bytes)
    first = next(blocks, None)
    if first is None:
        return
    line, start, block, read = first
    cut = _ended(block, encoding)
    block = block if cut is None else block + b"\n"
    fmt = _format_of(filename, block[:64])
    header: list[str] = []
    if fmt == "csv":
        end = block.index(b"\n")
        header = _header(block[:end], columns=columns, required=required, encoding=encoding, start=start)
        line, start, block = 2, start + end + 1, block[end + 1 :]
    if encoding == "utf-8":
        _check_utf8(block, first_line=line, start=start)
    parse = _csv_frame if fmt == "csv" else _ndjson_frame
    while True:
        if block:
            if encoding != "utf-8":
                block = _transcoded(block, encoding)
            frame = parse(block, first_line=line, header=header, columns=columns)
            if cut:
                last = line + block.count(b"\n") - 1
                frame = frame.with_columns(
                    bad=pl.when(pl.col("line") == last).then(pl.lit("cut_short")).otherwise(pl.col("bad"))
                )
            if frame.height:
                yield Chunk(frame, read)
        step = next(blocks, None)
        if step is None:
            return
        line, start, block, read = step
        cut = _ended(block, encoding)
        block = block if cut is None else block + b"\n"


def _ended(block: bytes, encoding: str) -> bool | None:
    """None for whole lines; for the file's last line, which has no newline, whether it ends in
    the middle of a character (the file was cut short)."""
    if block.endswith(b"\n"):
        return None
    tail = block[block.rfind(b"\n") + 1 :]
    return not _decodes(tail, encoding) and textfile.decodes_but_the_tail(tail, encoding)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _check_utf8(block: bytes, *, first_line: int, start: int) -> None:
    """Refuse a file whose first chunk shows it is not UTF-8: some of its lines do not decode
    and none that carries other than ASCII does. A UTF-8 file with a few damaged lines shows
    itself by its good ones, and its damaged lines are listed as unreadable records."""
    try:
        block.decode("utf-8")
        return
    except UnicodeDecodeError:
        pass
    first_bad: textfile.BadText | None = None
    offset = start
    for number, raw in enumerate(block.split(b"\n")[:-1], start=first_line):
        if not raw.isascii():
            try:
                raw.decode("utf-8")
                return  # a line of UTF-8 text beyond ASCII: the file is UTF-8, damaged here and there
            except UnicodeDecodeError as exc:
                if first_bad is None:
                    first_bad = textfile.BadText(
                        encoding="utf-8",
                        line=number,
                        offset=offset + exc.start,
                        cut_short=textfile.decodes_but_the_tail(raw, "utf-8"),
                    )
        offset += len(raw) + 1
    if first_bad is not None:
        raise IngestFileRejected([first_bad.problem()])


def _transcoded(block: bytes, encoding: str) -> bytes:
    """Whole lines in `encoding` as UTF-8 (no encoding it takes has a newline byte inside a
    character). A line that does not decode becomes a NUL byte: an unreadable record."""
    try:
        return block.decode(encoding).encode("utf-8")
    except UnicodeDecodeError:
        pass
    out = []
    for raw in block.split(b"\n")[:-1]:
        try:
            out.append(raw.decode(encoding).encode("utf-8"))
        except UnicodeDecodeError:
            out.append(b"\x00")
    return b"\n".join(out) + b"\n"


def _header(
    raw: bytes, *, columns: Sequence[str], required: Sequence[str], encoding: str, start: int
) -> list[str]:
    try:
        text = raw.decode(encoding).rstrip("\r")
    except UnicodeDecodeError as exc:
        bad = textfile.BadText(encoding=encoding, line=1, offset=start + exc.start, cut_short=False)
        raise IngestFileRejected([bad.problem()]) from None
    names = [ALIASES.get(n.strip().lower(), n.strip().lower()) for n in next(csv.reader([text]), [])]
    problems = [
        Problem(1, name, "unknown_column", str(_("This column is not part of the layout.")))
        for name in names
        if name not in columns
    ]
    problems += [
        Problem(1, name, "duplicate_column", str(_("This column appears twice.")))
        for i, name in enumerate(names)
        if name in names[:i]
    ]
    problems += [
        Problem(1, name, "missing_column", str(_("This column is required.")))
        for name in required
        if name not in names
    ]
    if "resident" in columns and "resident" not in names and "id_number" not in names:
        problems.append(
            Problem(1, "resident", "missing_column", str(_("Name residents by resident or id_number.")))
        )
    if problems:
        raise IngestFileRejected(problems)
    return names


def _csv_frame(block: bytes, *, first_line: int, header: list[str], columns: Sequence[str]) -> pl.DataFrame:
    lines = block.count(b"\n")
    try:
        if b"\x00" in block:  # no text column takes a NUL byte: those lines are unreadable
            raise ValueError("NUL byte")
        frame = pl.read_csv(
            io.BytesIO(block),
            has_header=False,
            new_columns=header,
            infer_schema=False,
            quote_char='"',
            raise_if_empty=False,
        )
        if frame.height != lines or frame.width != len(header):
            raise ValueError("records and lines differ")
        frame = frame.with_columns(bad=pl.lit(None, pl.String))
    except (pl.exceptions.PolarsError, ValueError):
        # A line polars will not read (a stray quote, too many fields, bad UTF-8, a line
        # break inside quotes): read this chunk line by line and mark the bad lines.
        frame = _csv_lines(block, header)
    frame = frame.with_row_index("line", offset=first_line).with_columns(pl.col("line").cast(pl.Int64))
    return _complete(frame, columns)


def _csv_lines(block: bytes, header: list[str]) -> pl.DataFrame:
    rows: list[list[str | None]] = []
    for raw in block.split(b"\n")[:-1]:
        try:
            if b"\x00" in raw:
                raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
            text = raw.decode("utf-8").rstrip("\r")
            fields: list[str | None] = list(next(csv.reader([text], strict=True), []))
        except (UnicodeDecodeError, csv.Error):
            rows.append([None] * len(header) + ["unreadable"])
            continue
        if len(fields) > len(header):
            rows.append([None] * len(header) + ["unreadable"])
            continue
        fields += [None] * (len(header) - len(fields))
        rows.append([f if f != "" else None for f in fields] + [None])
    return pl.DataFrame(rows, schema=dict.fromkeys([*header, "bad"], pl.String), orient="row")


def _ndjson_frame(
    block: bytes, *, first_line: int, header: list[str], columns: Sequence[str]
) -> pl.DataFrame:
    del header
    lines = block.count(b"\n")
    schema = dict.fromkeys(columns, pl.String)
    try:
        if b"\x00" in block or b"\\u0000" in block:  # NUL, raw or escaped: unreadable lines
            raise ValueError("NUL byte")
        frame = pl.read_ndjson(io.BytesIO(block), schema=schema)
        if frame.height != lines:  # polars skips blank lines: fall back to keep line numbers
            raise ValueError("records and lines differ")
        frame = frame.with_columns(bad=pl.lit(None, pl.String))
    except (pl.exceptions.PolarsError, ValueError):
        frame = _ndjson_lines(block, columns)
    frame = frame.with_row_index("line", offset=first_line).with_columns(pl.col("line").cast(pl.Int64))
    return _complete(frame, columns)


def _ndjson_lines(block: bytes, columns: Sequence[str]) -> pl.DataFrame:
    rows: list[list[str | None]] = []
    for raw in block.split(b"\n")[:-1]:
        if not raw.strip():
            rows.append([None] * (len(columns) + 1))
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        values = [_text(record.get(c)) for c in columns] if isinstance(record, dict) else []
        if not isinstance(record, dict) or any(v is not None and "\x00" in v for v in values):
            rows.append([None] * len(columns) + ["unreadable"])
            continue
        rows.append([*values, None])
    return pl.DataFrame(rows, schema=dict.fromkeys([*columns, "bad"], pl.String), orient="row")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _complete(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Every layout column present, trimmed, empty strings as null; blank lines dropped."""
    missing = [pl.lit(None, pl.String).alias(c) for c in columns if c not in frame.columns]
    trimmed = [pl.col(c).str.strip_chars() for c in columns]
    frame = frame.with_columns(missing).with_columns(
        [
            pl.when(t == "").then(pl.lit(None, pl.String)).otherwise(t).alias(c)
            for t, c in zip(trimmed, columns, strict=True)
        ]
    )
    blank = pl.all_horizontal([pl.col(c).is_null() for c in columns]) & pl.col("bad").is_null()
    return frame.filter(~blank).select(["line", "bad", *columns])


# --- checking values (whole columns) -------------------------------------------------------

_AWARE = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")
_NAIVE = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")


def _time_parsers() -> list[Callable[[pl.Expr], pl.Expr]]:
    zone = clock.city_zone().key

    def aware(form: str) -> Callable[[pl.Expr], pl.Expr]:
        return lambda text: text.str.strptime(pl.Datetime("us", "UTC"), form, strict=False)

    def naive(form: str) -> Callable[[pl.Expr], pl.Expr]:
        return lambda text: (
            text.str.strptime(pl.Datetime("us"), form, strict=False)
            .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
        )

    return [*(aware(f) for f in _AWARE), *(naive(f) for f in _NAIVE)]


def parse_times(values: pl.Series) -> pl.Series:
    """ISO 8601 date-times with an offset, or naive ones in the city's time, as UTC (null when
    unreadable). Each layout is tried only on the values the previous ones could not read: a
    file of one layout is parsed once."""
    text = values.str.replace("T", " ", literal=True).str.replace(r"[Zz]$", "+00:00")
    frame = pl.DataFrame({"t": text})
    first, *others = _time_parsers()
    parsed = frame.select(first(pl.col("t"))).to_series()
    for parser in others:
        missing = (parsed.is_null() & text.is_not_null()).arg_true()
        if not missing.len():
            break
        parsed = parsed.scatter(missing, frame[missing].select(parser(pl.col("t"))).to_series())
    return parsed.alias(values.name or "at")


def db_time(expr: pl.Expr) -> pl.Expr:
    """A UTC date-time as the database column takes it (SQLite: Django's naive UTC text)."""
    if core_sql.postgres():
        return expr.dt.to_string("%Y-%m-%d %H:%M:%S%.6f+00:00")
    return expr.dt.to_string("%Y-%m-%d %H:%M:%S%.6f").str.replace(r"\.000000$", "")


def control_in(*columns: str) -> pl.Expr:
    """Any of these text columns holds a control character (core/inputs.py's one-line refusal,
    as every text input of the API and the console has it)."""
    return pl.any_horizontal(
        [pl.col(column).str.contains(inputs.CONTROL_IN_LINE_PATTERN).fill_null(False) for column in columns]
    )


def first_problem(*pairs: tuple[pl.Expr, str]) -> pl.Expr:
    return pl.coalesce(
        [
            pl.col("bad"),
            *(pl.when(cond).then(pl.lit(why)).otherwise(pl.lit(None, pl.String)) for cond, why in pairs),
        ]
    )
