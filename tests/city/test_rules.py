from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.city import rules


def test_it_accepts_a_valid_id_number_and_reads_the_birth_date() -> None:
    assert rules.parse_id_number("11010519491231002X") == date(1949, 12, 31)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1101051949123100", "id_length"),
        ("11010519491231002Y", "id_characters"),
        ("110105194902300021", "id_birth_date"),
        ("110105194912310021", "id_check_digit"),
    ],
)
def test_it_rejects_a_bad_id_number_with_the_reason(value: str, code: str) -> None:
    with pytest.raises(rules.IdNumberError) as caught:
        rules.parse_id_number(value)
    assert caught.value.code == code


def test_it_rejects_an_id_number_born_in_the_future() -> None:
    body = "51010420300101001"
    with pytest.raises(rules.IdNumberError):
        rules.parse_id_number(body + rules.id_check_digit(body), today=date(2022, 9, 1))


@given(st.integers(min_value=0, max_value=10**17 - 1))
def test_any_single_digit_change_breaks_the_check_digit(n: int) -> None:
    body = f"{n:017d}"
    check = rules.id_check_digit(body)
    position = n % 17
    altered = body[:position] + str((int(body[position]) + 1) % 10) + body[position + 1 :]
    assert rules.id_check_digit(altered) != check


def test_age_counts_whole_years() -> None:
    assert rules.age_on(date(1962, 9, 2), date(2022, 9, 1)) == 59
    assert rules.is_elderly(date(1962, 9, 1), date(2022, 9, 1))


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("C1", "compound"),
        ("C1/2", "building"),
        ("C1/2/1", "unit"),
        ("C1/2/1/301", "household"),
        ("C1/2/1/301#1", "resident"),
    ],
)
def test_addresses_round_trip(text: str, level: str) -> None:
    address = rules.parse_address(text)
    assert address.level == level
    assert str(address) == text


@pytest.mark.parametrize("text", ["", "C1//1", "C1/x", "C1/2/1/301#", "C1 /2"])
def test_a_malformed_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        rules.parse_address(text)
