"""Text files read strictly, in the one encoding the user says they are in.

A file is read as UTF-8 (with or without a byte-order mark) unless the user names another
encoding; GB 18030 and GBK are accepted, since Chinese offices export them, but never guessed.
Guessing is what garbled imports: nearly any byte string decodes as GB 18030, a UTF-8 file with
one stray byte among them, so "not UTF-8, hence GB 18030" turned "测试新区" into "娴嬭瘯鏂板尯".
A file that does not decode whole is refused at its first bad byte, by line and byte offset,
with a word on how to say what the file is.

Decoding is incremental: the file is read from disk a block at a time and never held whole.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from typing import IO

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bastion.core.errors import InvalidInput
from bastion.core.files import Problem

# What a user may name (any alias Python knows: utf8, GB18030, cp936…) -> the codec used.
# The encodings a user may name, as the console offers them (the API and the command line take
# the names, and the usual aliases of each).
ENCODINGS: dict[str, str | Promise] = {
    "utf-8": gettext_lazy("UTF-8 (the usual)"),
    "gb18030": gettext_lazy("GB18030 (Excel's CSV on a Chinese Windows)"),
    "gbk": "GBK",
}
_CODECS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "gb18030": "gb18030", "gbk": "gbk", "gb2312": "gbk"}
BOM = codecs.BOM_UTF8
BLOCK_BYTES = 1024 * 1024
_BREAK = re.compile(r"\r\n|\r|\n")


class UnknownEncoding(InvalidInput):
    code = "unknown_encoding"

    def __init__(self, name: str) -> None:
        super().__init__(
            _("Unknown encoding %(name)s: give one of %(choices)s.")
            % {"name": name[:40], "choices": ", ".join(ENCODINGS)}
        )


def encoding_named(name: str | None) -> str:
    """The encoding a user named, as one of `ENCODINGS`; UTF-8 when none was named."""
    if name is None or not name.strip():
        return "utf-8"
    try:
        codec = codecs.lookup(name.strip()).name
    except (LookupError, ValueError):  # ValueError: a name with a NUL in it
        raise UnknownEncoding(name) from None
    if codec not in _CODECS:
        raise UnknownEncoding(name)
    return _CODECS[codec]


class BadText(Exception):
    """The first byte of a file that does not decode in its encoding."""

    def __init__(self, *, encoding: str, line: int, offset: int, cut_short: bool) -> None:
        super().__init__(f"{encoding}: line {line}, byte {offset}")
        self.encoding = encoding
        self.line = line
        self.offset = offset
        self.cut_short = cut_short

    def problem(self) -> Problem:
        """The refusal as a file's problem, in the active language."""
        where = {"line": self.line, "offset": self.offset}
        if self.cut_short:
            return Problem(
                self.line,
                "",
                "cut_short",
                _(
                    "The file ends in the middle of a character on line %(line)d (byte %(offset)d): "
                    "it was cut short. Send the whole file again."
                )
                % where,
            )
        if self.encoding == "utf-8":
            message = _(
                "The file is not valid UTF-8: its first bad byte is on line %(line)d, at byte "
                "%(offset)d of the file. Save it as UTF-8, or, if it was saved as GB18030 or GBK, "
                "give that encoding."
            )
        else:
            message = _(
                "The file is not valid %(encoding)s: its first bad byte is on line %(line)d, at "
                "byte %(offset)d of the file. Give the encoding it was saved in."
            )
        return Problem(self.line, "", "bad_encoding", message % {**where, "encoding": self.encoding.upper()})


def decoded(stream: IO[bytes], *, encoding: str, block_bytes: int = BLOCK_BYTES) -> Iterator[str]:
    """The text of `stream`, a block at a time, in `encoding` (one of `ENCODINGS`; a UTF-8
    byte-order mark is dropped). Raises `BadText` at the first byte that does not decode."""
    decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)("strict")
    fed = newlines = 0
    while True:
        data = stream.read(block_bytes)
        final = not data
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(data, final=final)
        except UnicodeDecodeError:
            raise _locate(
                pending + data,
                start=fed - len(pending),
                lines_before=newlines - pending.count(b"\n"),
                encoding=encoding,
                final=final,
            ) from None
        fed += len(data)
        newlines += data.count(b"\n")
        if text:
            yield text
        if final:
            return


def _locate(window: bytes, *, start: int, lines_before: int, encoding: str, final: bool) -> BadText:
    """Where in `window` (which begins at byte `start` of the file) the first bad byte is."""
    skip = len(BOM) if start == 0 and encoding == "utf-8" and window.startswith(BOM) else 0
    text = window[skip:]
    try:
        text.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = skip + exc.start
    else:  # pragma: no cover - the incremental decoder found an error a whole decode does not
        bad = len(window)
    # Cut short: everything decodes but a character begun in the last bytes and never ended.
    cut_short = final and decodes_but_the_tail(text, encoding)
    return BadText(
        encoding=encoding,
        line=lines_before + window[:bad].count(b"\n") + 1,
        offset=start + bad,
        cut_short=cut_short,
    )


def decodes_but_the_tail(data: bytes, encoding: str) -> bool:
    """Whether `data` is good text but for a character begun in its last bytes and not ended."""
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def lines(pieces: Iterable[str]) -> Iterator[str]:
    """Pieces of text cut into lines, each with its line break (\\r\\n, \\n or \\r), as a file
    opened with newline="" gives them: what the csv module reads."""
    rest = ""
    for piece in pieces:
        text = rest + piece
        start = 0
        for brk in _BREAK.finditer(text):
            if brk.end() == len(text) and brk.group() == "\r":
                break  # the next piece may begin with the "\n" of this "\r\n"
            yield text[start : brk.end()]
            start = brk.end()
        rest = text[start:]
    if rest:
        yield rest


def text_lines(stream: IO[bytes], *, encoding: str) -> Iterator[str]:
    """The lines of a text file read strictly in `encoding` (see `decoded`)."""
    return lines(decoded(stream, encoding=encoding))
