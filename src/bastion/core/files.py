"""Files refused as a whole: every bad cell listed, by row and column, in the user's language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from bastion.core.errors import InvalidInput


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
    """A file refused as a whole; `details` lists every problem, by row then by the file
    format's column order. Subclasses name the format's columns and say what was not done."""

    code = "file_rejected"
    columns: tuple[str, ...] = ()
    summary: str | Promise = _("The file was rejected with %(count)d problems; nothing was written.")

    def __init__(self, problems: Sequence[Problem]) -> None:
        order = {column: i for i, column in enumerate(self.columns)}
        self.problems = sorted(problems, key=lambda p: (p.row, order.get(p.column, -1), p.code))
        super().__init__(
            self.summary % {"count": len(self.problems)}, details=[p.as_dict() for p in self.problems]
        )
