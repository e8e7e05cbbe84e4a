"""The event interchange format: one strict pydantic model per event type.

The models check the shape of one event (types, formats, lengths). Rules that need the rest of
the ledger (does this referral exist, was there an interview) live in `rules.py`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from .errors import LedgerError
from .text import first_spoofing

# \Z, not $: `$` also matches before a final newline, which would let "ana\n" in.
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")
MAX_TEXT = 4000
MAX_SHORT = 200
FUTURE_SLACK = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

from .kinds import KIND_RANK, KINDS, WEAK_KINDS  # noqa: F401  (re-exported)

# Fields the ledger adds on export; accepted on input and checked, never required.
ENVELOPE_FIELDS = ("recorded_at", "recorded_by", "seq", "hash", "keys")


# The characters `_check_text` refuses: surrogates (category Cs) and controls (Cc) other than
# newline and tab. A search for them in C spares the loop below for text that has none.
_REFUSED_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_text(value: str) -> str:
    if not _REFUSED_CHARS.search(value):
        return value
    for ch in value:
        cat = unicodedata.category(ch)
        if cat == "Cs":
            raise ValueError("contains a lone surrogate")
        if cat == "Cc" and ch not in "\n\t":
            raise ValueError(f"contains a control character (U+{ord(ch):04X})")
    return value


def _check_line(value: str) -> str:
    _check_text(value)
    # Names are shown beside handles and trusted for who someone is: a character that reorders
    # or hides text is refused here (free text keeps it, and it is escaped wherever printed).
    hidden = first_spoofing(value)
    if hidden is not None:
        raise ValueError(
            f"contains U+{ord(hidden):04X}, a character that changes how text is shown "
            "(bidirectional control, zero-width character or line separator)"
        )
    if "\n" in value or "\t" in value:
        raise ValueError("must be a single line")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _check_handle(value: str) -> str:
    if not HANDLE_RE.match(value):
        raise ValueError(
            "must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def _check_event_id(value: str) -> str:
    # printable ASCII, space included: exactly " " to "~"
    if not 1 <= len(value) <= 128 or not (value.isascii() and value.isprintable()):
        raise ValueError("must be 1-128 printable ASCII characters")
    return value


def parse_timestamp(
    value: str, *, now: datetime | None = None, future_ok: bool = False
) -> datetime:
    """Parse ISO 8601 with a UTC offset; refuse naive, absurd and future times."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 timestamp string")  # noqa: TRY004 (pydantic wants ValueError)
    parsed = _parse_utc(value)
    if not future_ok:
        now = now or datetime.now(UTC)
        if parsed > now + FUTURE_SLACK:
            raise ValueError(f"{value!r} is in the future")
    return parsed


_TIMESTAMP_START = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@functools.lru_cache(maxsize=4096)  # 65,536 held about 14 MB for the rest of the process
def _parse_utc(value: str) -> datetime:
    # Cached: one import parses each event's `at` several times (validation, rules, storage).
    if _WRITTEN_UTC.fullmatch(value):
        # As the ledger writes it (UTC, `Z`, whole seconds), as most input is: `fromisoformat`
        # gives it in UTC already, so only the calendar and the 1970 bound can refuse it, with
        # the messages below (0.43 against 0.78 µs a timestamp).
        parsed = _from_iso(value)
        if parsed < EPOCH:
            raise ValueError(f"{value!r} is before 1970")
        return parsed
    if not _TIMESTAMP_START.match(value):
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp like 2026-11-02T09:30:00Z")
    parsed = _from_iso(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset (write it like 2026-11-02T09:30:00Z)")
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        # year 1 with a positive offset, or year 9999 with a negative one, leaves datetime's range
        raise ValueError(f"{value!r} is out of range") from None
    if parsed < EPOCH:
        raise ValueError(f"{value!r} is before 1970")
    return parsed


def _from_iso(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid ISO 8601 timestamp") from None


def format_timestamp(moment: datetime) -> str:
    """UTC with `Z`; microseconds only when there are any."""
    # isoformat() leaves out zero microseconds too, and is several times faster than strftime
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def to_micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


_NAIVE_EPOCH = datetime(1970, 1, 1)


@functools.lru_cache(maxsize=8192)
def format_micros(micros: int) -> str:
    """`format_timestamp(from_micros(micros))` without the time zone round trip. Cached: a
    replay formats every event's `recorded_at` (one value per import) and many row times."""
    return (_NAIVE_EPOCH + timedelta(microseconds=micros)).isoformat() + "Z"


# A timestamp already written the way `format_timestamp` writes it (UTC, `Z`, whole seconds)
# comes back unchanged: most input (every export) needs no formatting.
_WRITTEN_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


# The two validators below are `parse_timestamp` inlined: pydantic's strict `str` has checked
# the type already, and every event an import reads passes through one of them.
def _check_at(value: str) -> str:
    moment = _parse_utc(value)
    if moment > datetime.now(UTC) + FUTURE_SLACK:
        raise ValueError(f"{value!r} is in the future")
    return value if _WRITTEN_UTC.fullmatch(value) else format_timestamp(moment)


def _check_future_ok_timestamp(value: str) -> str:
    moment = _parse_utc(value)
    return value if _WRITTEN_UTC.fullmatch(value) else format_timestamp(moment)


def _check_date(value: str) -> str:
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        raise ValueError(f"{value!r} is not a date like 2026-11-02")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date") from None
    return value


Handle = Annotated[str, AfterValidator(_check_handle)]
EventId = Annotated[str, AfterValidator(_check_event_id)]
Timestamp = Annotated[str, AfterValidator(_check_at)]
AnyTimestamp = Annotated[str, AfterValidator(_check_future_ok_timestamp)]
Day = Annotated[str, AfterValidator(_check_date)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_SHORT), AfterValidator(_check_line)]
Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_check_text)]
RequiredText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_check_text)]
Email = Annotated[
    str,
    Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"),
    AfterValidator(_check_line),
]
Kind = Literal[KINDS]  # type: ignore[valid-type]  # the one list is `kinds.KINDS`
Channel = Literal["email", "phone", "message", "in-person", "other"]


class Strict(BaseModel):
    # defer_build: a read-only command never validates, so it need not pay for building schemas
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, populate_by_name=False, defer_build=True
    )


class Preparation(Strict):
    researched_company: bool | None = None
    researched_person: bool | None = None
    questions: Annotated[list[Text], Field(max_length=50)] | None = None
    expectations: Text | None = None
    follow_up_plan: Text | None = None
    qualifications: Text | None = None


class Event(Strict):
    """Fields common to every event. Subclasses set `type` and their own fields.

    The class is where every other module learns what an event type means beyond its fields:
    who it names (`handles`, `people()`), which aggregate it belongs to (`aggregate()`), what
    is personal data (`personal`) and how to say it in words (`describe()`). Nothing else
    keeps a table of these by type.
    """

    type: str
    at: Timestamp | None = None
    id: EventId | None = None

    # The fields that name people who must already be known when the event is recorded.
    handles: ClassVar[tuple[str, ...]] = ()
    # The fields (dotted paths) that hold personal data.
    personal: ClassVar[tuple[str, ...]] = ("note",)
    referral_event: ClassVar[bool] = True
    # Without a `referral`, the event belongs to the person named by the first of these fields
    # that it gives; that person is also the `actor` the ledger's log keeps. `verify` reads
    # events without their plugins, so a plugin's type keeps this default.
    person_fields: ClassVar[tuple[str, ...]] = ("by", "handle")
    # The aggregate the event starts, if it starts one: only `referral-requested` and
    # `person-added` do; every other event (a plugin's too) belongs to one that exists.
    creates: ClassVar[Literal["referral", "person"] | None] = None
    # The plugin that registered the type; None for the contract's own types.
    plugin: ClassVar[str | None] = None

    def record(self) -> dict[str, Any]:
        """The event as an interchange-format dict, without absent optional fields."""
        # `model_dump` without its wrapper, as `validate` calls the validator (once an event)
        return self.__pydantic_serializer__.to_python(  # type: ignore[no-any-return]
            self, by_alias=True, exclude_none=True
        )

    def owner(self) -> str | None:
        """Whose personal data the event's free text is: the person who recorded it."""
        return getattr(self, "by", None)

    @classmethod
    def people(cls) -> tuple[str, ...]:
        """Every field of the type that names a person (by its name in the interchange format):
        `handles`, then the `person_fields` the type has (`person-added`'s `handle` names a
        person who is new)."""
        return _people(cls)

    @classmethod
    def person_of(cls, record: Mapping[str, Any]) -> str | None:
        """The person the event is filed under: the first of `person_fields` it gives."""
        for name in cls.person_fields:
            value = record.get(name)
            if value:
                return value
        return None

    @classmethod
    def aggregate(
        cls,
        record: Mapping[str, Any],
        locate: Callable[[str], tuple[str, str] | None] | None = None,
    ) -> tuple[str, str] | None:
        """The aggregate the event belongs to: ("referral", key) when it gives a `referral`,
        else ("person", handle) for the person it is filed under; None when it names neither.
        `locate(event_id)` gives the aggregate of an event already recorded, for a type whose
        aggregate is another event's (a retraction)."""
        key = record.get("referral")
        if key:
            return "referral", key
        person = cls.person_of(record)
        return ("person", person) if person else None

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        """One line saying what the event records, for a person to read. `requester` is the
        referral's requester, named where the sentence would say "the requester".

        This default names the type and who acted towards whom; a type may say more."""
        by, to = record.get("by"), record.get("to")
        who = f"{by}" + (f" → {to}" if to else "") if by else ""
        return f"{record['type']}" + (f" ({who})" if who else "")


@functools.cache
def _people(model: type[Event]) -> tuple[str, ...]:
    names = {info.alias or name for name, info in model.model_fields.items()}
    return tuple(f for f in dict.fromkeys((*model.handles, *model.person_fields)) if f in names)


def shown(value: Any) -> str:
    """A value as a person reads it; erased values say so."""
    if isinstance(value, Mapping) and "forgotten" in value:
        return "forgotten"
    if isinstance(value, list | tuple):
        return "; ".join(shown(v) for v in value)
    return str(value)


class PersonAdded(Event):
    type: Literal["person-added"]
    handle: Handle
    name: Name
    email: Email | None = None
    company: Name | None = None
    title: Name | None = None
    handles: ClassVar[tuple[str, ...]] = ()
    personal: ClassVar[tuple[str, ...]] = ("name", "email", "title")
    referral_event: ClassVar[bool] = False
    person_fields: ClassVar[tuple[str, ...]] = ("handle",)
    creates: ClassVar[Literal["referral", "person"] | None] = "person"

    def owner(self) -> str | None:
        return self.handle

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"added {record['handle']} ({shown(record['name'])})"


class PersonUpdated(Event):
    """Fields of a person corrected or changed: each field given replaces the person's, in every
    view from the update's `at` on. The values are the person's own personal data, sealed and
    erased with them like `person-added`'s. The rules that need the person (known, not
    forgotten, at least one field) are in `rules.py`."""

    type: Literal["person-updated"]
    handle: Handle
    name: Name | None = None
    email: Email | None = None
    company: Name | None = None
    title: Name | None = None
    by: Handle | None = None
    handles: ClassVar[tuple[str, ...]] = ("handle", "by")
    personal: ClassVar[tuple[str, ...]] = PersonAdded.personal
    referral_event: ClassVar[bool] = False
    person_fields: ClassVar[tuple[str, ...]] = ("handle",)
    # The fields an update may give, each replacing the person's.
    updatable: ClassVar[tuple[str, ...]] = ("name", "email", "company", "title")

    def owner(self) -> str | None:
        return self.handle  # the values are about the person, whoever records them

    @classmethod
    def update(
        cls, person: Mapping[str, Any], updates: Iterable[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """The person (a `person-added` record) with these updates applied in the order
        given; its own fields (`id`, `at`, `seq`, ...) are kept."""
        merged = dict(person)
        for update in updates:
            for field in cls.updatable:
                if field in update:
                    merged[field] = update[field]
        return merged

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        changed = [
            field if field == "email" else f"{field} {shown(record[field])}"
            for field in cls.updatable
            if record.get(field) is not None
        ]
        by = f" by {record['by']}" if record.get("by") else ""
        return f"updated {record['handle']}{by}: " + ", ".join(changed)


class ConnectionDeclared(Event):
    type: Literal["connection-declared"]
    by: Handle
    with_: Handle = Field(alias="with")
    kind: Kind
    since: Day | None = None
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "with")
    referral_event: ClassVar[bool] = False

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} knows {record['with']} ({record['kind']})"


class ReferralRequested(Event):
    type: Literal["referral-requested"]
    referral: Handle
    by: Handle
    referrer: Handle
    company: Name
    target: Handle | None = None
    role: Text | None = None
    posting_at: Day | None = None
    goal: Text | None = None
    relationship: Kind | None = None
    preparation: Preparation | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "referrer", "target")
    personal: ClassVar[tuple[str, ...]] = (
        "role",
        "goal",
        "preparation.questions",
        "preparation.expectations",
        "preparation.follow_up_plan",
        "preparation.qualifications",
    )
    creates: ClassVar[Literal["referral", "person"] | None] = "referral"

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        target = f", to reach {record['target']}" if record.get("target") else ""
        return (
            f"{record['by']} asked {record['referrer']} for a referral at "
            f"{shown(record['company'])}{target}"
        )


class RequestAmended(Event):
    """The requester changes their request: each field given replaces the request's (the keys
    of `preparation` replace those keys of the request's preparation), from the amendment's
    `at` on. The rules that need the referral (only the requester, not once closed, `target`
    only before an introduction) are in `rules.py`."""

    type: Literal["request-amended"]
    referral: Handle
    by: Handle
    preparation: Preparation | None = None
    role: Text | None = None
    target: Handle | None = None
    posting_at: Day | None = None
    goal: Text | None = None
    relationship: Kind | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "target")
    personal: ClassVar[tuple[str, ...]] = ReferralRequested.personal
    # The fields an amendment may give, each replacing the request's.
    amendable: ClassVar[tuple[str, ...]] = (
        "preparation",
        "role",
        "target",
        "posting_at",
        "goal",
        "relationship",
    )

    @classmethod
    def amend(
        cls, request: Mapping[str, Any], amendments: Iterable[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """The request (a record) with these amendments applied in the order given; the
        request's own fields (`id`, `at`, `seq`, ...) are kept."""
        merged = dict(request)
        for amendment in amendments:
            for field in cls.amendable:
                if field not in amendment:
                    continue
                if field == "preparation":
                    merged[field] = {**(merged.get(field) or {}), **amendment[field]}
                else:
                    merged[field] = amendment[field]
        return merged

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        changed = []
        for field in cls.amendable:
            value = record.get(field)
            if value is None:
                continue
            if field == "preparation":
                changed.append("preparation (" + ", ".join(value) + ")")
            elif field in ("target", "posting_at", "relationship"):
                changed.append(f"{field} {value}")
            else:
                changed.append(field)
        return f"{record['by']} amended the request: " + ", ".join(changed)


class RequestVetted(Event):
    type: Literal["request-vetted"]
    referral: Handle
    by: Handle
    decision: Literal["accept", "decline", "needs-preparation"]
    knows_work: bool
    relationship: Kind | None = None
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by",)

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        work = "knows the requester's work"
        if not record.get("knows_work"):
            work = "has not seen their work"
        return f"{record['by']} vetted the request: {record['decision']}, {work}"


class IntroductionMade(Event):
    type: Literal["introduction-made"]
    referral: Handle
    by: Handle
    to: Handle
    channel: Channel | None = None
    resume_attached: bool | None = None
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "to")

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        channel = f" by {record['channel']}" if record.get("channel") else ""
        whom = requester or "the requester"
        return f"{record['by']} introduced {whom} to {record['to']}{channel}"


class ResumeForwarded(Event):
    type: Literal["resume-forwarded"]
    referral: Handle
    by: Handle
    to: Handle
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "to")

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} forwarded the resume to {record['to']}"


class FollowUpSent(Event):
    type: Literal["follow-up-sent"]
    referral: Handle
    by: Handle
    to: Handle
    channel: Channel | None = None
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "to")

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} followed up with {record['to']}"


class InterviewScheduled(Event):
    type: Literal["interview-scheduled"]
    referral: Handle
    on: AnyTimestamp
    by: Handle | None = None
    handles: ClassVar[tuple[str, ...]] = ("by",)
    personal: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"interview scheduled for {record['on']}"


class InterviewHeld(Event):
    type: Literal["interview-held"]
    referral: Handle
    by: Handle | None = None
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by",)

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return "interview held"


class FeedbackGiven(Event):
    type: Literal["feedback-given"]
    referral: Handle
    by: Handle
    to: Handle
    match: Annotated[int, Field(ge=1, le=5)]
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "to")

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} gave feedback to {record['to']}: match {record['match']}/5"


class OutcomeReported(Event):
    type: Literal["outcome-reported"]
    referral: Handle
    by: Handle
    to: Handle
    outcome: Literal["hired", "offer-declined", "rejected", "no-opening", "withdrawn"]
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "to")

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} told {record['to']} the outcome: {record['outcome']}"


class ThankYouSent(Event):
    type: Literal["thank-you-sent"]
    referral: Handle
    by: Handle
    to: Handle
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "to")

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} thanked {record['to']}"


class ReferralClosed(Event):
    type: Literal["referral-closed"]
    referral: Handle
    by: Handle
    reason: RequiredText
    handles: ClassVar[tuple[str, ...]] = ("by",)
    personal: ClassVar[tuple[str, ...]] = ("reason",)

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} closed the referral: {shown(record['reason'])}"


class EventRetracted(Event):
    type: Literal["event-retracted"]
    by: Handle
    retracts: EventId
    reason: RequiredText
    referral: Handle | None = None
    handles: ClassVar[tuple[str, ...]] = ("by",)
    personal: ClassVar[tuple[str, ...]] = ("reason",)
    referral_event: ClassVar[bool] = False  # it has a referral exactly when its target does

    @classmethod
    def aggregate(
        cls,
        record: Mapping[str, Any],
        locate: Callable[[str], tuple[str, str] | None] | None = None,
    ) -> tuple[str, str] | None:
        """A retraction belongs where the event it retracts does."""
        key = record.get("referral")
        if key:
            return "referral", key
        return locate(record.get("retracts")) if locate is not None else None

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} retracted {record['retracts']}"


class PersonForgotten(Event):
    type: Literal["person-forgotten"]
    handle: Handle
    by: Handle | None = None
    reason: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("handle", "by")
    personal: ClassVar[tuple[str, ...]] = ("reason",)
    referral_event: ClassVar[bool] = False
    person_fields: ClassVar[tuple[str, ...]] = ("handle",)

    def owner(self) -> str | None:
        return self.by or self.handle

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        by = f" by {record['by']}" if record.get("by") else ""
        return f"{record['handle']} was forgotten{by}"


CORE_TYPES: dict[str, type[Event]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        PersonAdded,
        PersonUpdated,
        ConnectionDeclared,
        ReferralRequested,
        RequestAmended,
        RequestVetted,
        IntroductionMade,
        ResumeForwarded,
        FollowUpSent,
        InterviewScheduled,
        InterviewHeld,
        FeedbackGiven,
        OutcomeReported,
        ThankYouSent,
        ReferralClosed,
        EventRetracted,
        PersonForgotten,
    )
}


def read_without_plugins(kind: Any) -> type[Event]:
    """The class that says what a stored event of type `kind` is, for a reader that may not have
    the plugins (the store's index, `verify`): the contract's class, else `Event`, whose
    aggregate rule a plugin's type keeps (`app.plugin_type_name` checks)."""
    return CORE_TYPES.get(kind, Event) if isinstance(kind, str) else Event


def type_name(model: type[Event]) -> str:
    return model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]


def _format_error(err: Any) -> str:
    loc = ".".join(str(part) for part in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown field {loc!r}"
    if kind == "missing":
        return f"{loc}: required field is missing"
    msg = err["msg"]
    msg = msg.removeprefix("Value error, ")
    return f"{loc}: {msg}"


def new_event_id() -> str:
    return str(uuid.uuid4())


def validate(raw: dict[str, Any], types: dict[str, type[Event]]) -> Event:
    """Validate one event's shape, collecting every problem into one LedgerError."""
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise LedgerError("type: required, one of " + ", ".join(sorted(types)))
    model = types.get(kind)
    if model is None:
        raise LedgerError(f"type: unknown event type {kind!r}")
    body = raw
    if not raw.keys().isdisjoint(ENVELOPE_FIELDS):
        body = {k: v for k, v in raw.items() if k not in ENVELOPE_FIELDS}
    try:
        # `model_validate` without its wrapper (one call per event an import checks)
        return model.__pydantic_validator__.validate_python(body)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise LedgerError([_format_error(e) for e in exc.errors()]) from None
