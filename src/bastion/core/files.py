"""Files refused as a whole: the bad cells listed, by row and column, in the user's language.

A report is capped: it lists the first `MAX_LISTED` problems (by row, then column) and counts
every problem by kind, so that a large file of bad rows gets an answer of a few hundred
kilobytes rather than one as large as the file.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, Field

from bastion.core.errors import InvalidInput
from bastion.core.inputs import InputProblemOut

MAX_LISTED = 1000
U = TypeVar("U", bound="UploadedFile[Any]")


@dataclass(frozen=True)
class Problem:
    """One bad cell (or a bad file when `row` is 0): what the user fixes and why."""

    row: int
    column: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


class FileRejected(InvalidInput):
    """A file refused as a whole. `problems` are the first `MAX_LISTED` problems, by row then by
    the file format's column order; `total` counts them all and `counts` counts them by code.
    The API body carries them as `details`, `total` and `counts`. Subclasses name the format's
    columns and say what was not done."""

    code = "file_rejected"
    columns: tuple[str, ...] = ()
    summary: str | Promise = _("The file was rejected with %(count)d problems; nothing was written.")

    def __init__(self, problems: Iterable[Problem]) -> None:
        order = {column: i for i, column in enumerate(self.columns)}
        counts: Counter[str] = Counter()

        def counted(problem: Problem) -> tuple[int, int, str]:
            counts[problem.code] += 1
            return (problem.row, order.get(problem.column, -1), problem.code)

        self.problems = heapq.nsmallest(MAX_LISTED, problems, key=counted)
        self.counts = dict(sorted(counts.items()))
        self.total = sum(counts.values())
        message = self.summary % {"count": self.total}
        if self.total > len(self.problems):
            message = gettext("%(summary)s The first %(listed)d are listed.") % {
                "summary": message,
                "listed": len(self.problems),
            }
        super().__init__(message, details=[p.as_dict() for p in self.problems])

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "total": self.total, "counts": self.counts}


def report_lines(rejected: FileRejected, *, where: str) -> list[str]:
    """The report as the command line prints it: the problems listed, then the count of each
    kind when more were found than listed. `where` names a file's rows ("row", "line")."""
    out = []
    for problem in rejected.problems:
        place = f"{where} {problem.row}" if problem.row else "file"
        column = f", {problem.column}" if problem.column else ""
        out.append(f"{place}{column}: {problem.message} [{problem.code}]")
    if rejected.total > len(rejected.problems):
        out.append(f"{rejected.total:,} problems in all, {len(rejected.problems):,} listed:")
        out.extend(f"  {code}: {count:,}" for code, count in rejected.counts.items())
    return out


class UploadTooLarge(InvalidInput):
    status = 413
    code = "upload_too_large"

    def __init__(self, *, limit: int) -> None:
        super().__init__(
            gettext("The file is larger than %(limit)s, the most an upload may be; nothing was read.")
            % {"limit": filesizeformat(limit)}
        )


def checked_upload(upload: U) -> U:
    """The upload if it is within `settings.UPLOAD_MAX_BYTES`, checked before a byte of it is
    read: Django has spooled it to a temporary file on disk, not into memory."""
    limit = settings.UPLOAD_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise UploadTooLarge(limit=limit)
    return upload


# --- what the API documents of a refused file -------------------------------------------------


class FileProblemOut(BaseModel):
    """One bad cell of a refused file (row 0: the file as a whole)."""

    row: int
    column: str
    code: str
    message: str


class FileRejectedOut(BaseModel):
    """A refused bulk file, as every upload endpoint answers it (422)."""

    code: str
    message: str
    details: list[FileProblemOut | InputProblemOut] = Field(
        default_factory=list,
        description=(
            f"the first {MAX_LISTED:,} problems by row and column, or what a request without a file"
            " lacks; none for a refusal of the request as a whole (an unknown encoding, a file too large)"
        ),
    )
    total: int = Field(0, description="how many problems the file has in all")
    counts: dict[str, int] = Field(default_factory=dict, description="how many of each kind (code)")
