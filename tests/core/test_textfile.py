"""Text files are read strictly in the encoding named, and a refused file's report is capped."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.utils.translation import override

from bastion.core import textfile
from bastion.core.files import MAX_LISTED, FileRejected, Problem

TEXT = "district_name,name\n测试新区,王芳\n朝阳区,李雷\n"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with override("en"):
        yield


def read(data: bytes, encoding: str = "utf-8", block_bytes: int = 5) -> str:
    """Small blocks, so that characters and line breaks fall across them."""
    return "".join(textfile.decoded(io.BytesIO(data), encoding=encoding, block_bytes=block_bytes))


def refused(data: bytes, encoding: str = "utf-8") -> textfile.BadText:
    with pytest.raises(textfile.BadText) as caught:
        read(data, encoding)
    return caught.value


def test_it_reads_utf8_with_or_without_a_byte_order_mark() -> None:
    assert read(TEXT.encode()) == TEXT
    assert read(textfile.BOM + TEXT.encode()) == TEXT


def test_it_refuses_utf8_with_one_stray_byte_at_its_line_and_byte_instead_of_guessing_gb18030() -> None:
    data = TEXT.encode()
    stray = data.index("朝".encode())
    broken = data[:stray] + b"\xa0" + data[stray:]
    # Which is what garbled the import: the whole file decodes as GB 18030.
    assert broken.decode("gb18030").startswith("district_name,name\n娴嬭瘯鏂板尯,鐜嬭姵\n")

    bad = refused(broken)
    assert (bad.line, bad.offset, bad.cut_short) == (3, stray, False)
    problem = bad.problem()
    assert problem.code == "bad_encoding"
    assert f"line 3, at byte {stray} of the file" in problem.message
    assert "GB18030" in problem.message
    assert refused(textfile.BOM + broken).offset == stray + 3  # offsets count the file's bytes


def test_a_file_cut_in_the_middle_of_a_character_names_its_line() -> None:
    data = TEXT.encode()[:-2]  # "李雷\n" loses the "\n" and the last byte of 雷
    bad = refused(data)
    assert (bad.line, bad.cut_short) == (3, True)
    assert bad.problem().code == "cut_short"
    assert "in the middle of a character on line 3" in bad.problem().message


def test_gb18030_and_gbk_are_read_when_named_and_checked_whole() -> None:
    data = TEXT.encode("gb18030")
    assert read(data, "gb18030") == TEXT
    assert read(data, "gbk") == TEXT
    assert refused(data).line == 2  # never read as UTF-8 by accident
    bad = refused(data + b"\x81\n", "gb18030")
    assert (bad.line, bad.offset) == (4, len(data))
    assert "not valid GB18030" in bad.problem().message


def test_it_refuses_an_unknown_encoding_and_takes_the_usual_names() -> None:
    assert [textfile.encoding_named(n) for n in (None, "", "UTF8", "utf-8-sig", "GB18030", "cp936")] == [
        "utf-8",
        "utf-8",
        "utf-8",
        "utf-8",
        "gb18030",
        "gbk",
    ]
    for name in ("latin-1", "utf-16", "klingon", "utf-8\x00", "x" * 10_000):
        with pytest.raises(textfile.UnknownEncoding) as caught:
            textfile.encoding_named(name)
        assert caught.value.status == 422
        assert caught.value.code == "unknown_encoding"
        assert "utf-8, gb18030, gbk" in str(caught.value.message)


def test_the_refusal_is_said_in_chinese() -> None:
    bad = refused(b"a\n\xff\n")
    with override("zh-hans"):
        message = bad.problem().message
    assert "第 2 行" in message and "UTF-8" in message


def test_lines_keep_their_breaks_across_pieces() -> None:
    assert list(textfile.lines(["a,b\r", "\nc\r", "d\n", "e"])) == ["a,b\r\n", "c\r", "d\n", "e"]


def test_a_report_lists_the_first_problems_and_counts_them_all_by_kind() -> None:
    problems = [Problem(row, "sex", "bad_sex", "Write M or F.") for row in range(3000, 1, -1)]
    problems += [Problem(row, "", "required", "A value is required.") for row in range(2, 502)]

    rejected = FileRejected(iter(problems))

    body = rejected.as_dict()
    assert len(body["details"]) == MAX_LISTED == 1000
    assert [(p["row"], p["code"]) for p in body["details"][:3]] == [
        (2, "bad_sex"),
        (2, "required"),
        (3, "bad_sex"),
    ]
    assert body["details"][-1]["row"] == 501  # by row, then column: the first thousand
    assert body["total"] == 3499
    assert body["counts"] == {"bad_sex": 2999, "required": 500}
    assert body["message"] == (
        "The file was rejected with 3499 problems; nothing was written. The first 1000 are listed."
    )
    small = FileRejected([Problem(2, "sex", "bad_sex", "Write M or F.")]).as_dict()
    assert (small["total"], small["counts"], len(small["details"])) == (1, {"bad_sex": 1}, 1)
    assert small["message"] == "The file was rejected with 1 problems; nothing was written."


def test_every_encoding_offered_is_one_the_reader_takes() -> None:
    from bastion.console.forms import CaseBatchForm

    offered = [value for value, _label in CaseBatchForm().fields["encoding"].choices]
    assert offered == list(textfile.ENCODINGS) == ["utf-8", "gb18030", "gbk"]
    assert [textfile.encoding_named(name) for name in offered] == offered
