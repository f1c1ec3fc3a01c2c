"""What every criteria type shares: the base model, activity-type filters, windows, and the
hand-written checks that explain a problem in words an org admin can act on.

The checks are written out by hand: pydantic skips cross-field rules (strictly increasing) once a
field fails, and its messages are written for developers. The models carry the same rules so that a
document read back from the database parses on its own; a property test keeps the two in agreement.
A criteria type (one module in this package) subclasses ``CriteriaBase`` and fills in its four
parts: the fields and ``check_fields`` (validation), ``levels``, ``fact_requests`` + ``assess`` (one
mentor, from bounded facts) and ``crossings`` (everyone, set-based). See docs/criteria.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)
from pydantic_core import PydanticCustomError

from peer_badges.criteria.facts import Crossings, FactRequest, LevelState

if TYPE_CHECKING:
    from peer_badges.evaluation import MentorFacts

SCHEMA_VERSION = 1
MAX_THRESHOLD = 100_000
MAX_LEVELS = 20  # tiers of a tier badge, thresholds of a milestone badge
MAX_ACTIVITY_TYPES = 50
MAX_NAME_LENGTH = 64  # activity types, training codes, tier names
MAX_TRAINING_CODES = 20
MAX_ROLLING_DAYS = 3660
MAX_STREAK_WEEKS = 520
MAX_PER_WEEK = 100

Loc = tuple[str | int, ...]


class ErrorDetail(BaseModel):
    """One problem: where (``tiers[1].threshold``), what (a stable code) and a message for people."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    path: str
    code: str
    message: str


def format_path(loc: Iterable[str | int]) -> str:
    """``("tiers", 1, "threshold")`` -> ``"tiers[1].threshold"``; the root is ``""``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


class CriteriaInvalid(ValueError):
    """Raised by ``parse_criteria``; ``problems`` holds every problem found."""

    def __init__(self, problems: Sequence[ErrorDetail]) -> None:
        self.problems = tuple(problems)
        summary = "; ".join(f"{p.path or 'criteria'}: {p.message}" for p in self.problems)
        super().__init__(f"Badge criteria are not valid: {summary}")


# --- shared rules: used by the models' validators and by the hand-written checks ---------


def describe(value: object) -> str:
    """A JSON value as an admin would recognise it in a message."""
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 64 else "a very large number"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return f"the text {quoted(value)}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"


def quoted(value: object) -> str:
    """Text in quotes (shortened), anything else described."""
    if not isinstance(value, str):
        return describe(value)
    return f'"{value}"' if len(value) <= 40 else f'"{value[:40]}…"'


def name_problem(value: object, label: str) -> tuple[str, str] | None:
    """Rules for activity types, training codes and tier names: trimmed, non-blank text."""
    if not isinstance(value, str):
        return "wrong_type", f"{label} must be text; got {describe(value)}."
    if not value.strip():
        return "invalid_value", f"{label} cannot be blank."
    if len(value) > MAX_NAME_LENGTH:
        return (
            "too_long",
            f"{label} can be at most {MAX_NAME_LENGTH} characters; got {len(value)}.",
        )
    if value != value.strip():
        return "invalid_value", f"{label} {quoted(value)} has spaces at the start or end; remove them."
    return None


def duplicates(values: Sequence[object]) -> list[int]:
    """Positions of values already seen earlier in the list."""
    seen: list[object] = []
    repeats = []
    for index, value in enumerate(values):
        if value in seen:
            repeats.append(index)
        else:
            seen.append(value)
    return repeats


def custom_error(code: str, message: str) -> PydanticCustomError:
    # The message goes through the context so that braces in it are never interpreted.
    return PydanticCustomError(code, "{message}", {"message": message})


def checked_name(label: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = name_problem(value, label)
        if problem:
            raise custom_error(*problem)
        return value

    return check


def unique(label: str) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    def check(values: tuple[Any, ...]) -> tuple[Any, ...]:
        if duplicates(values):
            raise custom_error("duplicate", f"{label} lists the same entry twice.")
        return values

    return check


def strictly_increasing(values: tuple[int, ...]) -> tuple[int, ...]:
    if any(later <= earlier for earlier, later in pairwise(values)):
        raise custom_error("not_increasing", "Thresholds must be strictly increasing.")
    return values


# --- the models --------------------------------------------------------------------------


class Model(BaseModel):
    # Built on first use, not at import (a cold start that reads no criteria builds none of them).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


Threshold = Annotated[StrictInt, Field(gt=0, le=MAX_THRESHOLD)]
ActivityType = Annotated[StrictStr, AfterValidator(checked_name("An activity type"))]
ActivityTypes = Annotated[
    tuple[ActivityType, ...],
    Field(min_length=1, max_length=MAX_ACTIVITY_TYPES),
    AfterValidator(unique("Activity types")),
]
TrainingCode = Annotated[StrictStr, AfterValidator(checked_name("A training code"))]


class AllTime(Model):
    kind: Literal["all_time"] = "all_time"

    @property
    def key(self) -> str:
        return self.kind

    def since(self, today: date) -> date | None:
        return None


class CalendarYear(Model):
    kind: Literal["calendar_year"] = "calendar_year"

    @property
    def key(self) -> str:
        return self.kind

    def since(self, today: date) -> date | None:
        return date(today.year, 1, 1)


class RollingDays(Model):
    kind: Literal["rolling_days"] = "rolling_days"
    days: Annotated[StrictInt, Field(gt=0, le=MAX_ROLLING_DAYS)]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.days}"

    def since(self, today: date) -> date | None:
        """The first day of the window; ``days=1`` means today only."""
        return today - timedelta(days=self.days - 1)


AnyWindow = AllTime | CalendarYear | RollingDays
Window = Annotated[AnyWindow, Field(discriminator="kind")]
WINDOW_KINDS = ("all_time", "calendar_year", "rolling_days")
WINDOW_MODELS: dict[str, type[Model]] = {
    "all_time": AllTime,
    "calendar_year": CalendarYear,
    "rolling_days": RollingDays,
}


class CriteriaBase(Model):
    type: str
    schema_version: Literal[1]

    @field_validator("schema_version", mode="before")
    @classmethod
    def _exactly_one(cls, value: object) -> object:
        # Literal[1] alone would also take true and 1.0.
        if type(value) is not int or value != SCHEMA_VERSION:
            raise custom_error("unsupported_version", version_message(value))
        return value

    @classmethod
    def type_name(cls) -> str:
        """The ``type`` value of this criteria type's documents (its discriminator literal)."""
        name: str = cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
        return name

    @property
    def activity_filter(self) -> tuple[str, ...] | None:
        """The activity types that qualify; ``None`` means every type."""
        types: tuple[str, ...] | None = getattr(self, "activity_types", None)
        return types

    # --- what each type defines ------------------------------------------------------------

    # False for types that are never awarded automatically (manual).
    auto_awarded: ClassVar[bool] = True

    def levels(self) -> list[tuple[int, int]]:
        """``(level, target)`` pairs; single-level badges have level 1."""
        raise NotImplementedError

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        """Every problem with the values of the fields a document of this type has (unknown and
        missing fields are checked for every type already)."""

    def fact_requests(self, pending: frozenset[int], today: date) -> list[FactRequest]:
        """The facts ``assess`` reads for one mentor; ``pending`` are the targets of levels not yet
        awarded (their crossing dates are needed, the others' only their progress)."""
        return []

    def assess(self, facts: MentorFacts, today: date) -> list[LevelState]:
        """Per level: progress, whether it is met, and when it was met (from the facts asked for)."""
        raise NotImplementedError

    def crossings(self, today: date) -> Crossings:
        """The set-based query of every (mentor, level) met as of ``today``, with ``earned_at``."""
        raise NotImplementedError


# --- the hand-written checks -------------------------------------------------------------


class Problems:
    def __init__(self) -> None:
        self.found: list[tuple[Loc, str, str]] = []

    def add(self, loc: Loc, code: str, message: str) -> None:
        self.found.append((loc, code, message))


def version_message(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"Criteria version {describe(value)} is not supported; use schema_version 1."
    return f"schema_version must be the number 1; got {describe(value)}."


def check_count(out: Problems, loc: Loc, label: str, value: object, maximum: int) -> int | None:
    """A whole number from 1 to ``maximum``; returns it when it is one."""
    if value is None:
        out.add(loc, "required", f"{label} cannot be empty (null); enter a whole number from 1 to {maximum}.")
    elif isinstance(value, bool):
        out.add(
            loc, "not_integer", f"{label} must be a whole number, not true or false; got {describe(value)}."
        )
    elif isinstance(value, int):
        if value <= 0:
            out.add(loc, "not_positive", f"{label} must be greater than 0; got {describe(value)}.")
        elif value > maximum:
            out.add(loc, "too_large", f"{label} can be at most {maximum}; got {describe(value)}.")
        else:
            return value
    elif isinstance(value, float):
        hint = f" Write it as {int(value)}, without decimals." if value.is_integer() else ""
        out.add(loc, "not_integer", f"{label} must be a whole number greater than 0; got {value!r}.{hint}")
    elif isinstance(value, str):
        if value.strip().lstrip("+-").isdigit():
            message = f'{label} must be a number, not text; got "{value}". Remove the quotes.'
        else:
            message = f"{label} must be a whole number greater than 0; got {describe(value)}."
        out.add(loc, "not_integer", message)
    else:
        out.add(loc, "wrong_type", f"{label} must be a whole number greater than 0; got {describe(value)}.")
    return None


def check_bool(out: Problems, loc: Loc, label: str, value: object) -> None:
    if not isinstance(value, bool):
        out.add(loc, "wrong_type", f"{label} must be true or false; got {describe(value)}.")


def check_list(
    out: Problems, loc: Loc, label: str, value: object, maximum: int, example: str
) -> list[Any] | None:
    """A list of 1..``maximum`` items; returns it for the item checks."""
    if not isinstance(value, list | tuple):
        out.add(loc, "wrong_type", f"{label} must be a list like {example}; got {describe(value)}.")
        return None
    if not value:
        out.add(loc, "too_few", f"{label} needs at least one entry.")
    elif len(value) > maximum:
        out.add(loc, "too_many", f"{label} can have at most {maximum} entries; got {len(value)}.")
    return list(value)


def check_names(out: Problems, loc: Loc, label: str, item: str, value: object, maximum: int) -> None:
    items = check_list(out, loc, label, value, maximum, '["assignment", "visit"]')
    if items is None:
        return
    for index, name in enumerate(items):
        problem = name_problem(name, item)
        if problem:
            out.add((*loc, index), *problem)
    for index in duplicates(items):
        out.add((*loc, index), "duplicate", f"{label} lists {quoted(items[index])} more than once.")


def check_activity_types(out: Problems, loc: Loc, value: object) -> None:
    if value is None:
        return  # every type counts
    if isinstance(value, list | tuple) and not value:
        out.add(
            loc,
            "too_few",
            "Activity types needs at least one entry; "
            "leave it out (or use null) to count every activity type.",
        )
        return
    check_names(out, loc, "Activity types", "An activity type", value, MAX_ACTIVITY_TYPES)


def check_known_fields(
    out: Problems, loc: Loc, raw: dict[Any, Any], model: type[BaseModel], what: str
) -> None:
    """Unknown fields and missing required ones."""
    known = list(model.model_fields)
    for name in raw:
        if name not in known:
            shown = name if isinstance(name, str) else describe(name)
            out.add(
                (*loc, shown),
                "unknown_field",
                f'Unknown field "{shown}" for {what}. Known fields: {", ".join(known)}.',
            )
    for name, field in model.model_fields.items():
        if field.is_required() and name not in raw and name not in ("type", "kind", "schema_version"):
            out.add((*loc, name), "required", f'{what[0].upper()}{what[1:]} needs the field "{name}".')


def check_window(out: Problems, loc: Loc, value: object) -> None:
    if value is None:
        return  # all time
    if not isinstance(value, dict):
        out.add(
            loc,
            "wrong_type",
            'The window must be an object like {"kind": "rolling_days", "days": 90}; '
            f"got {describe(value)}.",
        )
        return
    kinds = ", ".join(WINDOW_KINDS)
    if "kind" not in value:
        out.add((*loc, "kind"), "required", f"The window needs a kind: one of {kinds}.")
        return
    kind = value["kind"]
    if not isinstance(kind, str) or kind not in WINDOW_MODELS:
        out.add((*loc, "kind"), "invalid_value", f"Unknown window kind {quoted(kind)}. Known kinds: {kinds}.")
        return
    check_known_fields(out, loc, value, WINDOW_MODELS[kind], f"a {kind} window")
    if kind == "rolling_days" and "days" in value:
        check_count(out, (*loc, "days"), "Days", value["days"], MAX_ROLLING_DAYS)


def check_thresholds(out: Problems, values: Sequence[tuple[Loc, object, str]]) -> None:
    """Each threshold valid and larger than every valid one before it."""
    previous: tuple[int, str] | None = None
    for item_loc, value, label in values:
        threshold = check_count(out, item_loc, label, value, MAX_THRESHOLD)
        if threshold is None:
            continue
        if previous is not None and threshold <= previous[0]:
            out.add(
                item_loc,
                "not_increasing",
                f"Thresholds must increase: {label.lower()} is {threshold}, "
                f"which is not more than {previous[1].lower()} ({previous[0]}).",
            )
        else:
            previous = (threshold, label)
