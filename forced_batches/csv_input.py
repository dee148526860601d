"""Reading a forced-redemption file: the file's own errors, and each row's values or what is wrong with them.

A file error (not UTF-8, no or a bad header, too many rows or bytes, the same row twice) rejects the
whole file: nothing is stored. A value error (a learner id that is not a number, a date that is not ISO,
an unknown policy) refuses only its row, with a message that names the column. Reading streams the file,
so memory stays bounded whatever its size; only the rows' identities are kept, to find a row given twice.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from common.models import MAX_LMS_USER_ID
from forced_batches.models import MAX_ROWS

MAX_BYTES = 10 * 1024 * 1024
INVALID_ROW = "invalid_row"

LEARNER_COLUMNS = ("lms_user_id", "email")
REQUIRED_COLUMNS = ("course_run_key",)
OPTIONAL_COLUMNS = (
    "subsidy_access_policy_uuid",
    "content_price_cents",
    "price_justification",
    "reason",
    "geag_first_name",
    "geag_last_name",
    "geag_date_of_birth",
    "geag_terms_accepted_at",
    "geag_data_share_consent",
    "external_order_reference",
)
KNOWN_COLUMNS = (*LEARNER_COLUMNS, *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"", "0", "false", "no", "n"}


class FileRejected(Exception):
    """The file as a whole cannot be used; `errors` lists each problem (line numbers where they apply)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class ParsedRow:
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    policy_uuid: uuid.UUID | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class FileDigest:
    sha256: str = ""
    size: int = 0


def read_rows(file: IO[bytes], *, default_policy_uuid: uuid.UUID | None, digest: FileDigest) -> Iterator[ParsedRow]:
    """Each data row, parsed; raises FileRejected for the file's own errors (possibly after some rows)."""
    text = codecs.iterdecode(_hashed_chunks(file, digest), "utf-8-sig", errors="strict")
    reader = csv.reader(_decoded_lines(text))
    header = _read_header(reader, has_default_policy=default_policy_uuid is not None)
    seen: dict[tuple, int] = {}
    duplicates: list[str] = []
    count = 0
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line (often the last one)
        count += 1
        if count > MAX_ROWS:
            raise FileRejected(
                [f"The file has more than {MAX_ROWS:,} rows; split it into files of {MAX_ROWS:,} or fewer."]
            )
        line = reader.line_num
        if len(cells) > len(header):
            raise FileRejected([f"Line {line} has {len(cells)} cells but the header names {len(header)} columns."])
        row = _parse(line, dict(zip(header, cells, strict=False)), default_policy_uuid)
        identity = (
            row.policy_uuid,
            row.values.get("lms_user_id") or row.values.get("email", "").lower(),
            row.values.get("course_run_key"),
        )
        if identity in seen:
            duplicates.append(f"Line {line} repeats line {seen[identity]} (the same learner, run and policy).")
        else:
            seen[identity] = line
        yield row
    if duplicates:
        raise FileRejected(
            duplicates[:50] + ([f"... and {len(duplicates) - 50} more."] if len(duplicates) > 50 else [])
        )
    if count == 0:
        raise FileRejected(["The file has a header but no rows."])


def _hashed_chunks(file: IO[bytes], digest: FileDigest) -> Iterator[bytes]:
    hasher = hashlib.sha256()
    while chunk := file.read(64 * 1024):
        digest.size += len(chunk)
        if digest.size > MAX_BYTES:
            raise FileRejected([f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB."])
        hasher.update(chunk)
        yield chunk
    digest.sha256 = hasher.hexdigest()


def _decoded_lines(text: Iterator[str]) -> Iterator[str]:
    """Lines of the decoded text (keeping line ends, as csv wants them), saying so when it is not UTF-8."""
    pending = ""
    try:
        for piece in text:
            pending += piece
            *lines, pending = pending.splitlines(keepends=True) or [""]
            if pending.endswith(("\r", "\n")):
                lines.append(pending)
                pending = ""
            yield from lines
    except UnicodeDecodeError as error:
        raise FileRejected(
            [f'The file is not UTF-8 text (byte {error.start} of a chunk cannot be read). Save it as "CSV UTF-8".']
        ) from None
    if pending:
        yield pending


def _read_header(reader, *, has_default_policy: bool) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise FileRejected(["The file is empty; it needs a header line and rows."]) from None
    except csv.Error as error:
        raise FileRejected([f"The header cannot be read as CSV: {error}."]) from None
    names = [name.strip().lower() for name in header]
    errors = []
    unknown = [name for name in names if name not in KNOWN_COLUMNS]
    if unknown:
        errors.append(f"Unknown columns: {', '.join(unknown)}. Known columns: {', '.join(KNOWN_COLUMNS)}.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        errors.append(f"Columns named twice: {', '.join(repeated)}.")
    if not any(name in names for name in LEARNER_COLUMNS):
        errors.append("Missing column: lms_user_id or email (one of them names the learner).")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        errors.append(f"Missing column: {', '.join(missing)}.")
    if "subsidy_access_policy_uuid" not in names and not has_default_policy:
        errors.append("Missing column: subsidy_access_policy_uuid (or choose one policy for the whole file).")
    if errors:
        raise FileRejected(errors)
    return names


def _parse(line: int, cells: dict[str, str], default_policy_uuid: uuid.UUID | None) -> ParsedRow:
    row = ParsedRow(line=line)
    value = {name: (cells.get(name) or "").strip() for name in KNOWN_COLUMNS}
    problems = row.problems

    if value["subsidy_access_policy_uuid"]:
        try:
            row.policy_uuid = uuid.UUID(value["subsidy_access_policy_uuid"])
        except ValueError:
            problems.append(f"subsidy_access_policy_uuid {value['subsidy_access_policy_uuid']!r} is not a uuid.")
    elif default_policy_uuid is not None:
        row.policy_uuid = default_policy_uuid
    else:
        problems.append("subsidy_access_policy_uuid is empty and the file has no policy of its own.")

    if value["lms_user_id"]:
        text = value["lms_user_id"]
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_LMS_USER_ID:
            row.values["lms_user_id"] = int(text)
        else:
            problems.append(f"lms_user_id {text!r} is not a learner id (a positive whole number).")
    elif not value["email"]:
        problems.append("Neither lms_user_id nor email names the learner.")
    row.values["email"] = value["email"]

    if value["course_run_key"]:
        row.values["course_run_key"] = value["course_run_key"][:255]
    else:
        problems.append("course_run_key is empty.")

    if value["content_price_cents"]:
        text = value["content_price_cents"]
        if text.isascii() and text.isdigit() and int(text) < 10**12:
            row.values["content_price_cents"] = int(text)
        else:
            problems.append(
                f"content_price_cents {text!r} is not whole cents (e.g. 10000 for $100.00); leave it empty for the "
                f"catalog price."
            )
    row.values["price_justification"] = value["price_justification"]
    row.values["reason"] = value["reason"]
    row.values["learner_first_name"] = value["geag_first_name"][:150]
    row.values["learner_last_name"] = value["geag_last_name"][:150]
    row.values["external_order_reference"] = value["external_order_reference"][:255]
    for column, target, parse in (
        ("geag_date_of_birth", "learner_date_of_birth", _iso_date),
        ("geag_terms_accepted_at", "learner_terms_accepted_at", _iso_datetime),
    ):
        if value[column]:
            try:
                row.values[target] = parse(value[column])
            except ValueError as problem:
                problems.append(f"{column} {problem}.")
    consent = value["geag_data_share_consent"].lower()
    if consent in _TRUE | _FALSE:
        row.values["learner_data_share_consent"] = consent in _TRUE
    else:
        problems.append(f"geag_data_share_consent {value['geag_data_share_consent']!r} is not true or false.")
    return row


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else _not_iso(text, "YYYY-MM-DD, e.g. 1990-04-30")
    except ValueError:
        return _not_iso(text, "YYYY-MM-DD, e.g. 1990-04-30")


def _iso_datetime(text: str) -> dt.datetime:
    example = "ISO 8601 with a time zone, e.g. 2026-11-30T14:05:00Z"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return _not_iso(text, example)
    if moment.tzinfo is None or "T" not in text.upper():
        return _not_iso(text, example)
    return moment.astimezone(dt.UTC)


def _not_iso(text: str, expected: str):
    raise ValueError(f"{text!r} is not {expected}")
