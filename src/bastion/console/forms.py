"""What the console's pages accept, as Django forms: each field reads and checks what was typed
(required, type, range, choice, length, no control characters) and says what is wrong in the
user's language. What the domain decides (a reason required for this transition, a clock still
running, a place that does not exist) stays with the services, whose refusals the pages show as
they did.

A form's fields carry their label into their messages ("Onset is not a day like 2022-09-01."),
so one message serves every field of its kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bastion.appeals.models import Category, Rating, Urgency
from bastion.care.models import NeedKind
from bastion.cases.models import CaseKind, ContactKind, FoundBy, PlaceType
from bastion.cases.services import Stay
from bastion.city.models import ChronicTreatment, Household
from bastion.city.selectors import household_by_address, resident_by_address
from bastion.core import inputs, textfile
from bastion.core.errors import NotFound
from bastion.core.files import UploadTooLarge, checked_upload
from bastion.core.scopes import Actor
from bastion.delivery.models import OrderKind
from bastion.zones.models import Level


class LabelledField(forms.Field):
    """A field whose messages name it: `%(field)s` is its label, in the user's language."""

    default_error_messages = {"required": gettext_lazy("Fill in %(field)s.")}

    def refuse(self, code: str) -> ValidationError:
        return ValidationError(self.error_messages[code], code=code, params={"field": self.label})

    def validate(self, value: Any) -> None:
        if self.required and value in self.empty_values:
            raise self.refuse("required")


class Text(LabelledField):
    """Text as typed, without the spaces around it; optional unless said (the services decide
    when a reason is needed); at most `max_length` characters; no control characters."""

    default_error_messages = {
        "too_long": gettext_lazy("%(field)s is too long: at most %(limit)s characters."),
        "control": gettext_lazy("%(field)s holds control characters: type it again."),
    }

    def __init__(self, *, max_length: int, multiline: bool = False, required: bool = False, **kwargs: Any):
        self.max_length = max_length
        self.multiline = multiline
        super().__init__(required=required, **kwargs)

    def to_python(self, value: Any) -> str:
        return "" if value in self.empty_values else str(value).strip()

    def validate(self, value: Any) -> None:
        super().validate(value)
        if len(value) > self.max_length:
            raise ValidationError(
                self.error_messages["too_long"],
                code="too_long",
                params={"field": self.label, "limit": self.max_length},
            )
        if inputs.has_control(value, multiline=self.multiline):
            raise self.refuse("control")


class Windowed(LabelledField):
    """A day or a moment, within the window around today that every input keeps to
    (`inputs.day_window`)."""

    default_error_messages = {
        "out_of_window": gettext_lazy("%(field)s must lie between %(first)s and %(last)s."),
    }

    def in_window(self, day: date) -> None:
        if not inputs.day_in_window(day):
            first, last = inputs.day_window()
            raise ValidationError(
                self.error_messages["out_of_window"],
                code="out_of_window",
                params={"field": self.label, "first": first.isoformat(), "last": last.isoformat()},
            )


class Day(Windowed):
    """A day typed as 2022-09-01 (what a date input sends), else None; optional unless said
    (an empty day is often "today", which the view decides)."""

    default_error_messages = {"invalid": gettext_lazy("%(field)s is not a day like 2022-09-01.")}

    def __init__(self, *, required: bool = False, **kwargs: Any):
        super().__init__(required=required, **kwargs)

    def to_python(self, value: Any) -> date | None:
        text = "" if value in self.empty_values else str(value).strip()
        if not text:
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise self.refuse("invalid") from None
        self.in_window(day)
        return day


class Moment(Windowed):
    """A `datetime-local` input (2022-09-01T08:00), read in the city's time zone."""

    default_error_messages = {
        "invalid": gettext_lazy("%(field)s is not a time like 2022-09-01 08:00."),
        "required": gettext_lazy("%(field)s is not a time like 2022-09-01 08:00."),
    }

    def to_python(self, value: Any) -> datetime | None:
        text = "" if value in self.empty_values else str(value).strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.refuse("invalid") from None
        self.in_window(moment.date())
        return inputs.city_moment(moment)


class WholeNumber(LabelledField):
    """A whole number typed in ASCII digits ("²" is a digit to Python, not to int), from `low`
    to `high`; one message, the field's own, for anything else."""

    def __init__(self, *, low: int, high: int, message: Any, required: bool = False, **kwargs: Any):
        self.low, self.high = low, high
        kwargs.setdefault("error_messages", {})
        kwargs["error_messages"] = {"invalid": message, "required": message, **kwargs["error_messages"]}
        super().__init__(required=required, **kwargs)

    def to_python(self, value: Any) -> int | None:
        text = "" if value in self.empty_values else str(value).strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit()) or not self.low <= int(text) <= self.high:
            raise self.refuse("invalid")
        return int(text)


class WholeNumbers(LabelledField):
    """Ids chosen among checkboxes (a list of whole numbers)."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, message: Any, **kwargs: Any):
        super().__init__(required=False, error_messages={"invalid": message}, **kwargs)

    def to_python(self, value: Any) -> list[int]:
        texts = [str(text).strip() for text in (value or [])]
        if not all(text.isascii() and text.isdigit() and len(text) < 19 for text in texts):
            raise self.refuse("invalid")
        return [int(text) for text in texts]


class Amount(LabelledField):
    """A sum of money: a number above 0, under what the column holds."""

    default_error_messages = {
        "invalid": gettext_lazy("%(field)s is not a number."),
        "required": gettext_lazy("%(field)s is not a number."),
        "not_positive": gettext_lazy("%(field)s must be more than 0."),
        "too_large": gettext_lazy("%(field)s is too large: under %(limit)s."),
    }

    def __init__(self, *, below: Decimal = Decimal("1e8"), **kwargs: Any):
        self.below = below
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Decimal | None:
        text = "" if value in self.empty_values else str(value).strip()
        if not text:
            return None
        try:
            amount = Decimal(text)
        except (InvalidOperation, ValueError):
            raise self.refuse("invalid") from None
        if not amount.is_finite():
            raise self.refuse("invalid")
        if amount <= 0:
            raise self.refuse("not_positive")
        if amount >= self.below:
            raise ValidationError(
                self.error_messages["too_large"],
                code="too_large",
                params={"field": self.label, "limit": f"{self.below:,.0f}"},
            )
        return amount


class Choice(forms.ChoiceField):
    """One of a list; `message` when it is missing or not one of them."""

    def __init__(self, *, choices: Any, message: Any, required: bool = True, **kwargs: Any):
        errors = {"required": message, "invalid_choice": message}
        super().__init__(choices=choices, required=required, error_messages=errors, **kwargs)


def flash_errors(form: forms.Form) -> list[str]:
    """Every message of a refused form, in order, each once (for a page that answers by a redirect)."""
    seen: list[str] = []
    for errors in form.errors.as_data().values():
        for error in errors:
            for text in error.messages:
                if text not in seen:
                    seen.append(text)
    return seen


# --- registry ---------------------------------------------------------------------------------


class ResidentFlagsForm(forms.Form):
    living_alone = forms.BooleanField(required=False)
    disabled = forms.BooleanField(required=False)
    pregnant = forms.BooleanField(required=False)
    cannot_order_online = forms.BooleanField(required=False)
    chronic_treatment = Choice(
        choices=ChronicTreatment.choices,
        required=False,
        message=gettext_lazy("Choose the treatment from the list."),
    )
    reason = Text(label=gettext_lazy("Reason"), max_length=500)

    def flags(self) -> dict[str, object]:
        return {name: value for name, value in self.cleaned_data.items() if name != "reason"}


# --- zones ------------------------------------------------------------------------------------


class ReasonForm(forms.Form):
    """A transition with a reason for the audit log (the service says when one is needed)."""

    reason = Text(label=gettext_lazy("Reason"), max_length=500)


class ZoneLiftForm(ReasonForm):
    override = forms.BooleanField(required=False)


class ZoneAdjustForm(ReasonForm):
    level = Choice(choices=Level.choices, message=gettext_lazy("Choose the level from the list."))


class ZoneScreeningForm(forms.Form):
    on = Day(label=gettext_lazy("Day"))
    sampled = WholeNumber(low=0, high=1_000_000, message=gettext_lazy("Sampled is a number of people."))
    result = Choice(
        choices=[("negative", "negative"), ("positive", "positive")],
        message=gettext_lazy("Say whether the screening was all negative or found positives."),
    )


# --- cases ------------------------------------------------------------------------------------


class ProtocolForm(forms.Form):
    protocol = Text(label=gettext_lazy("Protocol"), max_length=40)
    since = Day(label=gettext_lazy("From"))
    reason = Text(label=gettext_lazy("Reason"), max_length=500)


class ResidentAddress(Text):
    """A resident's address (C1/2/1/301#1), cleaned to the resident's id. Whether the actor may
    act on that resident is the service's question (an answer of 404 there)."""

    default_error_messages = {
        "required": gettext_lazy("Give the resident's address, like C1/2/1/301#1."),
        "unknown": gettext_lazy("There is no resident %(address)s (an address like C1/2/1/301#1)."),
    }

    def __init__(self, **kwargs: Any):
        super().__init__(max_length=80, required=True, **kwargs)
        # Set by the form (ScopedForm): whose scope the address is looked up in.
        self.actor: Actor | None = None

    def clean(self, value: Any) -> int:
        address = super().clean(value)
        try:
            # Outside the actor's scope the resident does not exist for them: the same words
            # as an address with nobody at it, so that the form tells nobody who lives where.
            return resident_by_address(address, actor=self.actor).pk
        except (ValueError, NotFound):
            raise ValidationError(
                self.error_messages["unknown"], code="unknown", params={"address": address}
            ) from None


PLACE_TYPES = {
    "workplace": PlaceType.WORKPLACE,
    "work": PlaceType.WORKPLACE,
    "单位": PlaceType.WORKPLACE,
    "工作单位": PlaceType.WORKPLACE,
    "shop": PlaceType.SHOP,
    "market": PlaceType.SHOP,
    "商超": PlaceType.SHOP,
    "市场": PlaceType.SHOP,
    "other": PlaceType.OTHER,
    "其他": PlaceType.OTHER,
}


def _stay_day(text: str, place: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            gettext_lazy("%(field)s is not a day like 2022-09-01."), code="invalid", params={"field": place}
        ) from None
    Windowed(label=place).in_window(day)
    return day


def read_stay(line: str, *, frequent: bool) -> Stay:
    """`C3/1` or `C3/1, workplace, 2022-08-28, 2022-08-31` (type and days optional)."""
    parts = [part.strip() for part in line.replace("，", ",").split(",")]
    kind = parts[1].lower() if len(parts) > 1 and parts[1] else "other"
    if kind not in PLACE_TYPES:
        raise ValidationError(
            gettext_lazy("%(line)s: the kind of place is workplace, shop or other."),
            code="bad_place_type",
            params={"line": line},
        )
    days = [_stay_day(part, parts[0]) for part in parts[2:4]]
    return Stay(
        parts[0],
        PLACE_TYPES[kind],
        frequent,
        days[0] if days else None,
        days[1] if len(days) > 1 else (days[0] if days else None),
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class ScopedForm(forms.Form):
    """A form whose resident addresses are looked up within `actor`'s scope."""

    def __init__(self, *args: Any, actor: Actor | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, ResidentAddress):
                field.actor = actor


class CaseForm(ScopedForm):
    resident = ResidentAddress(label=gettext_lazy("Resident"))
    kind = Choice(choices=CaseKind.choices, message=gettext_lazy("Choose the classification from the list."))
    found_by = Choice(
        choices=FoundBy.choices, message=gettext_lazy("Choose how the case was found from the list.")
    )
    onset_on = Day(label=gettext_lazy("Onset"), required=False)
    frequent = Text(
        label=gettext_lazy("Places of frequent activity (workplace…)"), max_length=4000, multiline=True
    )
    stayed = Text(label=gettext_lazy("Other places stayed"), max_length=4000, multiline=True)

    def clean_frequent(self) -> list[Stay]:
        return [read_stay(line, frequent=True) for line in _lines(self.cleaned_data["frequent"])]

    def clean_stayed(self) -> list[Stay]:
        return [read_stay(line, frequent=False) for line in _lines(self.cleaned_data["stayed"])]

    def places(self) -> list[Stay]:
        return [*self.cleaned_data["frequent"], *self.cleaned_data["stayed"]]


class BulkFileForm(forms.Form):
    """A bulk file and what a CSV file of it is encoded in; a file over the upload limit is
    refused before it is read."""

    file = forms.FileField(
        allow_empty_file=True, error_messages={"required": gettext_lazy("Choose a CSV or XLSX file first.")}
    )
    encoding = Choice(
        choices=list(textfile.ENCODINGS.items()),
        required=False,
        message=gettext_lazy("Choose the file's encoding from the list."),
    )

    def clean_file(self) -> Any:
        try:
            return checked_upload(self.cleaned_data["file"])
        except UploadTooLarge as exc:
            raise ValidationError(str(exc.message), code=exc.code) from None

    def clean_encoding(self) -> str:
        return self.cleaned_data["encoding"] or "utf-8"


class CaseBatchForm(BulkFileForm):
    """A batch file of cases (docs/CASES_FORMAT.md)."""


class ContactForm(ScopedForm):
    resident = ResidentAddress(label=gettext_lazy("Resident"))
    kind = Choice(
        choices=ContactKind.choices, message=gettext_lazy("Choose the kind of contact from the list.")
    )
    # A close contact's id; which close contacts a secondary contact may name is the view's check.
    via = WholeNumber(
        low=1, high=2**62, message=gettext_lazy("Choose the close contact the secondary contact met.")
    )
    last_exposure_on = Day(
        label=gettext_lazy("Last exposure"),
        required=True,
        error_messages={"required": gettext_lazy("Give the day of the last exposure.")},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Only a secondary contact names the close contact they met: a close one ignores it.
        if data.get("kind") == ContactKind.CLOSE:
            self.errors.pop("via", None)
            data["via"] = None
        return data


# --- delivery ---------------------------------------------------------------------------------


class DeliverForm(forms.Form):
    recipient_code = Text(label=gettext_lazy("Recipient code"), max_length=8)
    weight_kg = Amount(
        label=gettext_lazy("Measured weight (kg)"),
        required=False,
        below=Decimal(1000),
        error_messages={
            code: gettext_lazy("The weight is not a number of kg.")
            for code in ("invalid", "not_positive", "too_large")
        },
    )
    client_key = Text(label=gettext_lazy("Key"), max_length=64)


class OrderFailForm(forms.Form):
    reason = Text(label=gettext_lazy("Why"), max_length=300)


QUANTITY = gettext_lazy("A quantity is a whole number from 1 to 99.")


class ProxyOrderForm(forms.Form):
    """An order a community worker places for a household of their community."""

    household = Text(label=gettext_lazy("Household"), max_length=80)
    item = Text(label=gettext_lazy("Item"), max_length=40)
    quantity = WholeNumber(low=1, high=99, message=QUANTITY, required=True)
    kind = Choice(
        choices=[(OrderKind.PROXY, OrderKind.PROXY.label), (OrderKind.MEDICINE, OrderKind.MEDICINE.label)],
        required=False,
        message=gettext_lazy("Choose the kind of order from the list."),
    )
    note = Text(label=gettext_lazy("Note"), max_length=300)

    def __init__(self, data: Any, *, community_id: int):
        # A form without a quantity orders one (the field starts at 1 on the page).
        if "quantity" not in data:
            data = data.copy()
            data["quantity"] = "1"
        super().__init__(data)
        self.community_id = community_id

    def clean_household(self) -> Household:
        address: str = self.cleaned_data["household"]
        household = household_by_address(address=address, community_id=self.community_id)
        if household is None:
            raise ValidationError(
                gettext_lazy("There is no household %(address)s in this community."),
                code="unknown_household",
                params={"address": address},
            )
        return household

    def clean_kind(self) -> str:
        return self.cleaned_data["kind"] or OrderKind.PROXY


class ZoneCycleForm(forms.Form):
    """A zone's own standard package and cycle, or `clear` to send it back to the policy's."""

    clear = forms.BooleanField(required=False)
    item = Text(label=gettext_lazy("Package"), max_length=40)
    every_days = WholeNumber(
        low=1, high=30, message=gettext_lazy("A cycle is a whole number of days from 1 to 30.")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Sending the zone back to the policy's package needs no cycle of its own.
        if data.get("clear"):
            self.errors.pop("every_days", None)
        elif "every_days" in data and data["every_days"] is None:
            self.add_error("every_days", self.fields["every_days"].error_messages["invalid"])
        return data


class MyOrderForm(forms.Form):
    """A resident's order: a quantity per catalogue item (0 or empty: none of it)."""

    note = Text(label=gettext_lazy("Note"), max_length=300)
    form_key = Text(label=gettext_lazy("Key"), max_length=64)

    def __init__(self, data: Any, *, item_codes: Sequence[str]):
        super().__init__(data)
        self.item_codes = list(item_codes)
        for code in self.item_codes:
            self.fields[f"qty-{code}"] = WholeNumber(low=0, high=99, message=QUANTITY, label=code)

    def lines(self) -> list[tuple[str, int]]:
        wanted = ((code, self.cleaned_data[f"qty-{code}"]) for code in self.item_codes)
        return [(code, quantity) for code, quantity in wanted if quantity]


# --- supply -----------------------------------------------------------------------------------


class PriceForm(forms.Form):
    item = Text(label=gettext_lazy("Item"), max_length=40)
    outlet = Text(label=gettext_lazy("Outlet"), max_length=100)
    sale_price = Amount(label=gettext_lazy("Sale price"))
    purchase_price = Amount(label=gettext_lazy("Purchase price"), required=False)


# --- testing ----------------------------------------------------------------------------------


class RoundOpenForm(forms.Form):
    code = Text(label=gettext_lazy("Code"), max_length=40)
    name = Text(label=gettext_lazy("Name"), max_length=100)
    starts_at = Moment(label=gettext_lazy("Start"))
    deadline = Moment(label=gettext_lazy("Deadline"))
    districts = WholeNumbers(
        label=gettext_lazy("Districts"), message=gettext_lazy("Choose the districts from the list.")
    )
    zone = WholeNumber(low=1, high=2**62, message=gettext_lazy("Choose the zone from the list."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("zone") and data.get("districts"):
            raise ValidationError(
                _("A round covers some districts or one zone, not both."), code="districts_and_zone"
            )
        return data


# --- what a page's link asks for ----------------------------------------------------------------


class PageQuery(forms.Form):
    """The query string of a page (`?day=…&district=…&community=…&state=…`): each value is
    optional, and one that is not what it should be is reported and left out, so the page
    shows its default rather than an error."""

    day = Day(label=gettext_lazy("Day"))
    district = WholeNumber(low=1, high=2**62, message=gettext_lazy("Choose a district from the list."))
    community = WholeNumber(low=1, high=2**62, message=gettext_lazy("Choose a community from the list."))
    state = forms.ChoiceField(
        choices=[("active", "active"), ("lifted", "lifted")],
        required=False,
        error_messages={"invalid_choice": gettext_lazy("Choose zones in force or lifted.")},
    )


class TransferMoveForm(forms.Form):
    """A crew's confirmation or a dispatcher's cancellation (the service asks for the reason)."""

    MOVES = (
        ("picked_up", gettext_lazy("picked up")),
        ("admitted", gettext_lazy("admitted")),
        ("cancelled", gettext_lazy("cancelled")),
        ("refused", gettext_lazy("refused")),
    )
    to = Choice(choices=MOVES, message=gettext_lazy("Choose the move from the list."))
    reason = Text(label=gettext_lazy("Reason"), max_length=500, required=False)


class CodeCorrectForm(forms.Form):
    """An officer's correction of a health code: the colour and the reason the resident reads."""

    colour = Choice(
        choices=[
            ("red", gettext_lazy("red")),
            ("yellow", gettext_lazy("yellow")),
            ("green", gettext_lazy("green")),
        ],
        message=gettext_lazy("Choose the colour from the list."),
    )
    reason = Text(label=gettext_lazy("Reason"), max_length=2000, multiline=True, required=True)


class CodeCheckForm(forms.Form):
    """A venue's check: the code as scanned or typed."""

    token = Text(label=gettext_lazy("Health code"), max_length=40, required=True)


# --- medical care -----------------------------------------------------------------------------


class TimeOfDay(LabelledField):
    """A time of day typed as 08:00 (what a time input sends), else None."""

    default_error_messages = {"invalid": gettext_lazy("%(field)s is not a time of day like 08:00.")}

    def to_python(self, value: Any) -> time | None:
        text = "" if value in self.empty_values else str(value).strip()
        if not text:
            return None
        try:
            return time.fromisoformat(text)
        except ValueError:
            raise self.refuse("invalid") from None


class Days(LabelledField):
    """Days typed one after another, separated by commas or spaces (2022-09-03, 2022-09-24),
    each within the inputs' window."""

    default_error_messages = {
        "invalid": gettext_lazy("%(field)s: %(day)s is not a day like 2022-09-01."),
        "too_many": gettext_lazy("%(field)s: at most 60 days."),
    }

    def to_python(self, value: Any) -> list[date]:
        text = "" if value in self.empty_values else str(value)
        days = []
        for part in text.replace(",", " ").replace("，", " ").split():
            try:
                day = date.fromisoformat(part)
            except ValueError:
                raise ValidationError(
                    self.error_messages["invalid"],
                    code="invalid",
                    params={"field": self.label, "day": part[:20]},
                ) from None
            if not inputs.day_in_window(day):
                raise ValidationError(inputs.outside_window(), code="window")
            days.append(day)
        if len(days) > 60:
            raise self.refuse("too_many")
        return days


WEEKDAY_CHOICES = [
    ("0", gettext_lazy("Mon")),
    ("1", gettext_lazy("Tue")),
    ("2", gettext_lazy("Wed")),
    ("3", gettext_lazy("Thu")),
    ("4", gettext_lazy("Fri")),
    ("5", gettext_lazy("Sat")),
    ("6", gettext_lazy("Sun")),
]


class NeedForm(ScopedForm):
    """A resident's standing medical need, as a community worker records it."""

    resident = ResidentAddress(label=gettext_lazy("Resident"))
    kind = Choice(choices=NeedKind.choices, message=gettext_lazy("Choose the kind of need from the list."))
    weekdays = forms.MultipleChoiceField(
        choices=WEEKDAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": gettext_lazy("Choose the weekdays from the list.")},
    )
    dates = Days(label=gettext_lazy("Dates of treatment"), required=False)
    session_time = TimeOfDay(label=gettext_lazy("Session time"), required=False)
    place = Text(label=gettext_lazy("Place of treatment"), max_length=100)
    due_on = Day(label=gettext_lazy("Due date"))
    since = Day(label=gettext_lazy("Since"))
    until = Day(label=gettext_lazy("Until"))
    note = Text(label=gettext_lazy("Note"), max_length=300)

    def weekday_numbers(self) -> list[int]:
        return sorted(int(day) for day in self.cleaned_data["weekdays"])


class EmergencyForm(ScopedForm):
    """An emergency call (120) for a resident."""

    resident = ResidentAddress(label=gettext_lazy("Resident"))
    note = Text(label=gettext_lazy("What happened"), max_length=300)


# --- appeals ------------------------------------------------------------------------------------


class AppealRaiseForm(forms.Form):
    """A resident's appeal from their own page: what it is about, how urgent, in their words."""

    category = Choice(choices=Category.choices, message=gettext_lazy("Choose what the appeal is about."))
    urgency = Choice(choices=Urgency.choices, message=gettext_lazy("Choose how urgent it is."))
    member = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    text = Text(label=gettext_lazy("What happened"), max_length=2000, multiline=True, required=True)

    def __init__(self, *args: Any, members: Sequence[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        member = self.fields["member"]
        assert isinstance(member, forms.TypedChoiceField)  # noqa: S101 - declared above
        member.choices = [("", "—"), *members]
        member.error_messages["invalid_choice"] = gettext_lazy(
            "Choose a member of your household from the list."
        )


class AppealRateForm(forms.Form):
    rating = Choice(choices=Rating.choices, message=gettext_lazy("Say whether the reply settled it."))
