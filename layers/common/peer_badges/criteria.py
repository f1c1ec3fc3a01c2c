"""The badge criteria language: a closed, versioned set of JSON documents (SPEC section 3).

Every document has a ``type`` (the discriminator) and ``schema_version`` (1).
``validate_criteria`` explains every problem in words an org admin can act on;
``parse_criteria`` turns a valid document into one of the frozen models below.

The checks are written out by hand (``_check_*``): pydantic skips cross-field rules (strictly
increasing) once a field fails, and its messages are written for developers. The models carry
the same rules so that a document read back from the database parses on its own; a property
test keeps the two in agreement.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from peer_badges.honorar_amounts import AmountsNok, amounts_nok_problems

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

    model_config = ConfigDict(frozen=True, extra="forbid")

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


def _describe(value: object) -> str:
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
        return f"the text {_quoted(value)}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"


def _quoted(value: object) -> str:
    """Text in quotes (shortened), anything else described."""
    if not isinstance(value, str):
        return _describe(value)
    return f'"{value}"' if len(value) <= 40 else f'"{value[:40]}…"'


def _name_problem(value: object, label: str) -> tuple[str, str] | None:
    """Rules for activity types, training codes and tier names: trimmed, non-blank text."""
    if not isinstance(value, str):
        return "wrong_type", f"{label} must be text; got {_describe(value)}."
    if not value.strip():
        return "invalid_value", f"{label} cannot be blank."
    if len(value) > MAX_NAME_LENGTH:
        return (
            "too_long",
            f"{label} can be at most {MAX_NAME_LENGTH} characters; got {len(value)}.",
        )
    if value != value.strip():
        return "invalid_value", f"{label} {_quoted(value)} has spaces at the start or end; remove them."
    return None


def _duplicates(values: Sequence[object]) -> list[int]:
    """Positions of values already seen earlier in the list."""
    seen: list[object] = []
    repeats = []
    for index, value in enumerate(values):
        if value in seen:
            repeats.append(index)
        else:
            seen.append(value)
    return repeats


def _custom_error(code: str, message: str) -> PydanticCustomError:
    # The message goes through the context so that braces in it are never interpreted.
    return PydanticCustomError(code, "{message}", {"message": message})


def _checked_name(label: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = _name_problem(value, label)
        if problem:
            raise _custom_error(*problem)
        return value

    return check


def _unique(label: str) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    def check(values: tuple[Any, ...]) -> tuple[Any, ...]:
        if _duplicates(values):
            raise _custom_error("duplicate", f"{label} lists the same entry twice.")
        return values

    return check


def _strictly_increasing(values: tuple[int, ...]) -> tuple[int, ...]:
    if any(later <= earlier for earlier, later in pairwise(values)):
        raise _custom_error("not_increasing", "Thresholds must be strictly increasing.")
    return values


# --- the models --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Threshold = Annotated[StrictInt, Field(gt=0, le=MAX_THRESHOLD)]
ActivityType = Annotated[StrictStr, AfterValidator(_checked_name("An activity type"))]
ActivityTypes = Annotated[
    tuple[ActivityType, ...],
    Field(min_length=1, max_length=MAX_ACTIVITY_TYPES),
    AfterValidator(_unique("Activity types")),
]
TrainingCode = Annotated[StrictStr, AfterValidator(_checked_name("A training code"))]


class AllTime(_Model):
    kind: Literal["all_time"] = "all_time"

    @property
    def key(self) -> str:
        return self.kind

    def since(self, today: date) -> date | None:
        return None


class CalendarYear(_Model):
    kind: Literal["calendar_year"] = "calendar_year"

    @property
    def key(self) -> str:
        return self.kind

    def since(self, today: date) -> date | None:
        return date(today.year, 1, 1)


class RollingDays(_Model):
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


class _Criteria(_Model):
    type: str
    schema_version: Literal[1]

    @field_validator("schema_version", mode="before")
    @classmethod
    def _exactly_one(cls, value: object) -> object:
        # Literal[1] alone would also take true and 1.0.
        if type(value) is not int or value != SCHEMA_VERSION:
            raise _custom_error("unsupported_version", _version_message(value))
        return value

    @property
    def activity_filter(self) -> tuple[str, ...] | None:
        """The activity types that qualify; ``None`` means every type."""
        types: tuple[str, ...] | None = getattr(self, "activity_types", None)
        return types

    def levels(self) -> list[tuple[int, int]]:
        """``(level, target)`` pairs; single-level badges have level 1."""
        raise NotImplementedError


class _AllTimeCriteria(_Criteria):
    @property
    def window(self) -> AnyWindow:
        """Only threshold badges have a window; the others look at all time."""
        return AllTime()


class ThresholdCriteria(_Criteria):
    type: Literal["threshold"]
    threshold: Threshold
    activity_types: ActivityTypes | None = None
    window: Window = AllTime()

    @field_validator("window", mode="before")
    @classmethod
    def _null_is_all_time(cls, value: object) -> object:
        return {"kind": "all_time"} if value is None else value

    def levels(self) -> list[tuple[int, int]]:
        return [(1, self.threshold)]


class StreakCriteria(_AllTimeCriteria):
    type: Literal["streak"]
    weeks: Annotated[StrictInt, Field(gt=0, le=MAX_STREAK_WEEKS)]
    min_per_week: Annotated[StrictInt, Field(gt=0, le=MAX_PER_WEEK)] = 1
    activity_types: ActivityTypes | None = None

    def levels(self) -> list[tuple[int, int]]:
        return [(1, self.weeks)]


class TrainingCompletionCriteria(_AllTimeCriteria):
    type: Literal["training_completion"]
    training_codes: Annotated[
        tuple[TrainingCode, ...],
        Field(min_length=1, max_length=MAX_TRAINING_CODES),
        AfterValidator(_unique("Training codes")),
    ]
    require: Literal["all", "any"] = "all"
    only_valid: StrictBool = False

    def levels(self) -> list[tuple[int, int]]:
        return [(1, len(self.training_codes) if self.require == "all" else 1)]


class Tier(_Model):
    name: Annotated[StrictStr, AfterValidator(_checked_name("A tier name"))]
    threshold: Threshold


def _tiers_increasing(tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
    _strictly_increasing(tuple(tier.threshold for tier in tiers))
    if _duplicates([tier.name for tier in tiers]):
        raise _custom_error("duplicate", "Each tier needs its own name.")
    return tiers


class TierCriteria(_AllTimeCriteria):
    type: Literal["tier"]
    activity_types: ActivityTypes | None = None
    tiers: Annotated[
        tuple[Tier, ...],
        Field(min_length=1, max_length=MAX_LEVELS),
        AfterValidator(_tiers_increasing),
    ]

    def levels(self) -> list[tuple[int, int]]:
        return [(position, tier.threshold) for position, tier in enumerate(self.tiers, 1)]


class MilestoneCriteria(_AllTimeCriteria):
    type: Literal["milestone"]
    activity_types: ActivityTypes | None = None
    thresholds: Annotated[
        tuple[Threshold, ...],
        Field(min_length=1, max_length=MAX_LEVELS),
        AfterValidator(_strictly_increasing),
    ]
    payable: StrictBool
    amounts_nok: AmountsNok = None  # after thresholds and payable: its validator reads both

    def levels(self) -> list[tuple[int, int]]:
        return list(enumerate(self.thresholds, 1))


class ManualCriteria(_AllTimeCriteria):
    type: Literal["manual"]

    def levels(self) -> list[tuple[int, int]]:
        return [(1, 1)]


Criteria = Annotated[
    ThresholdCriteria
    | StreakCriteria
    | TrainingCompletionCriteria
    | TierCriteria
    | MilestoneCriteria
    | ManualCriteria,
    Field(discriminator="type"),
]
CRITERIA_MODELS: dict[str, type[_Criteria]] = {
    "threshold": ThresholdCriteria,
    "streak": StreakCriteria,
    "training_completion": TrainingCompletionCriteria,
    "tier": TierCriteria,
    "milestone": MilestoneCriteria,
    "manual": ManualCriteria,
}
KNOWN_TYPES = tuple(CRITERIA_MODELS)
_WINDOW_MODELS: dict[str, type[_Model]] = {
    "all_time": AllTime,
    "calendar_year": CalendarYear,
    "rolling_days": RollingDays,
}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Criteria)


# --- the hand-written checks -------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.found: list[tuple[Loc, str, str]] = []

    def add(self, loc: Loc, code: str, message: str) -> None:
        self.found.append((loc, code, message))


def _version_message(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"Criteria version {_describe(value)} is not supported; use schema_version 1."
    return f"schema_version must be the number 1; got {_describe(value)}."


def _check_count(out: _Problems, loc: Loc, label: str, value: object, maximum: int) -> int | None:
    """A whole number from 1 to ``maximum``; returns it when it is one."""
    if value is None:
        out.add(loc, "required", f"{label} cannot be empty (null); enter a whole number from 1 to {maximum}.")
    elif isinstance(value, bool):
        out.add(
            loc, "not_integer", f"{label} must be a whole number, not true or false; got {_describe(value)}."
        )
    elif isinstance(value, int):
        if value <= 0:
            out.add(loc, "not_positive", f"{label} must be greater than 0; got {_describe(value)}.")
        elif value > maximum:
            out.add(loc, "too_large", f"{label} can be at most {maximum}; got {_describe(value)}.")
        else:
            return value
    elif isinstance(value, float):
        hint = f" Write it as {int(value)}, without decimals." if value.is_integer() else ""
        out.add(loc, "not_integer", f"{label} must be a whole number greater than 0; got {value!r}.{hint}")
    elif isinstance(value, str):
        if value.strip().lstrip("+-").isdigit():
            message = f'{label} must be a number, not text; got "{value}". Remove the quotes.'
        else:
            message = f"{label} must be a whole number greater than 0; got {_describe(value)}."
        out.add(loc, "not_integer", message)
    else:
        out.add(loc, "wrong_type", f"{label} must be a whole number greater than 0; got {_describe(value)}.")
    return None


def _check_bool(out: _Problems, loc: Loc, label: str, value: object) -> None:
    if not isinstance(value, bool):
        out.add(loc, "wrong_type", f"{label} must be true or false; got {_describe(value)}.")


def _check_list(
    out: _Problems, loc: Loc, label: str, value: object, maximum: int, example: str
) -> list[Any] | None:
    """A list of 1..``maximum`` items; returns it for the item checks."""
    if not isinstance(value, list | tuple):
        out.add(loc, "wrong_type", f"{label} must be a list like {example}; got {_describe(value)}.")
        return None
    if not value:
        out.add(loc, "too_few", f"{label} needs at least one entry.")
    elif len(value) > maximum:
        out.add(loc, "too_many", f"{label} can have at most {maximum} entries; got {len(value)}.")
    return list(value)


def _check_names(out: _Problems, loc: Loc, label: str, item: str, value: object, maximum: int) -> None:
    items = _check_list(out, loc, label, value, maximum, '["assignment", "visit"]')
    if items is None:
        return
    for index, name in enumerate(items):
        problem = _name_problem(name, item)
        if problem:
            out.add((*loc, index), *problem)
    for index in _duplicates(items):
        out.add((*loc, index), "duplicate", f"{label} lists {_quoted(items[index])} more than once.")


def _check_activity_types(out: _Problems, loc: Loc, value: object) -> None:
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
    _check_names(out, loc, "Activity types", "An activity type", value, MAX_ACTIVITY_TYPES)


def _check_fields(out: _Problems, loc: Loc, raw: dict[Any, Any], model: type[BaseModel], what: str) -> None:
    """Unknown fields and missing required ones."""
    known = list(model.model_fields)
    for name in raw:
        if name not in known:
            shown = name if isinstance(name, str) else _describe(name)
            out.add(
                (*loc, shown),
                "unknown_field",
                f'Unknown field "{shown}" for {what}. Known fields: {", ".join(known)}.',
            )
    for name, field in model.model_fields.items():
        if field.is_required() and name not in raw and name not in ("type", "kind", "schema_version"):
            out.add((*loc, name), "required", f'{what[0].upper()}{what[1:]} needs the field "{name}".')


def _check_window(out: _Problems, loc: Loc, value: object) -> None:
    if value is None:
        return  # all time
    if not isinstance(value, dict):
        out.add(
            loc,
            "wrong_type",
            'The window must be an object like {"kind": "rolling_days", "days": 90}; '
            f"got {_describe(value)}.",
        )
        return
    kinds = ", ".join(WINDOW_KINDS)
    if "kind" not in value:
        out.add((*loc, "kind"), "required", f"The window needs a kind: one of {kinds}.")
        return
    kind = value["kind"]
    if not isinstance(kind, str) or kind not in _WINDOW_MODELS:
        out.add(
            (*loc, "kind"), "invalid_value", f"Unknown window kind {_quoted(kind)}. Known kinds: {kinds}."
        )
        return
    _check_fields(out, loc, value, _WINDOW_MODELS[kind], f"a {kind} window")
    if kind == "rolling_days" and "days" in value:
        _check_count(out, (*loc, "days"), "Days", value["days"], MAX_ROLLING_DAYS)


def _check_thresholds(out: _Problems, values: Sequence[tuple[Loc, object, str]]) -> None:
    """Each threshold valid and larger than every valid one before it."""
    previous: tuple[int, str] | None = None
    for item_loc, value, label in values:
        threshold = _check_count(out, item_loc, label, value, MAX_THRESHOLD)
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


def _check_tiers(out: _Problems, value: object) -> None:
    items = _check_list(out, ("tiers",), "Tiers", value, MAX_LEVELS, '[{"name": "Bronze", "threshold": 5}]')
    if items is None:
        return
    thresholds = []
    names = []
    for index, tier in enumerate(items):
        loc: Loc = ("tiers", index)
        if not isinstance(tier, dict):
            out.add(
                loc,
                "wrong_type",
                'Each tier must be an object like {"name": "Bronze", "threshold": 5}; '
                f"got {_describe(tier)}.",
            )
            continue
        _check_fields(out, loc, tier, Tier, f"tier {index + 1}")
        if "name" in tier:
            problem = _name_problem(tier["name"], f"The name of tier {index + 1}")
            if problem:
                out.add((*loc, "name"), *problem)
            else:
                names.append((index, tier["name"]))
        if "threshold" in tier:
            thresholds.append(((*loc, "threshold"), tier["threshold"], f"The threshold of tier {index + 1}"))
    _check_thresholds(out, thresholds)
    seen: set[str] = set()
    for index, name in names:
        if name in seen:
            out.add(
                ("tiers", index, "name"), "duplicate", f"Tier name {_quoted(name)} is used more than once."
            )
        seen.add(name)


def _check_milestone_thresholds(out: _Problems, value: object) -> None:
    items = _check_list(out, ("thresholds",), "Thresholds", value, MAX_LEVELS, "[3, 15]")
    if items is not None:
        _check_thresholds(
            out,
            [(("thresholds", index), item, f"Threshold {index + 1}") for index, item in enumerate(items)],
        )


def _check_body(out: _Problems, kind: str, raw: dict[Any, Any]) -> None:
    """Field values of a criteria document whose type is known."""
    if "activity_types" in raw:
        _check_activity_types(out, ("activity_types",), raw["activity_types"])
    if kind == "threshold":
        if "threshold" in raw:
            _check_count(out, ("threshold",), "Threshold", raw["threshold"], MAX_THRESHOLD)
        _check_window(out, ("window",), raw.get("window"))
    elif kind == "streak":
        if "weeks" in raw:
            _check_count(out, ("weeks",), "Weeks", raw["weeks"], MAX_STREAK_WEEKS)
        if "min_per_week" in raw:
            _check_count(out, ("min_per_week",), "Minimum per week", raw["min_per_week"], MAX_PER_WEEK)
    elif kind == "training_completion":
        if "training_codes" in raw:
            _check_names(
                out,
                ("training_codes",),
                "Training codes",
                "A training code",
                raw["training_codes"],
                MAX_TRAINING_CODES,
            )
        require = raw.get("require", "all")
        if not (isinstance(require, str) and require in ("all", "any")):
            out.add(
                ("require",), "invalid_value", f'Require must be "all" or "any"; got {_describe(require)}.'
            )
        if "only_valid" in raw:
            _check_bool(out, ("only_valid",), "Only valid", raw["only_valid"])
    elif kind == "tier":
        if "tiers" in raw:
            _check_tiers(out, raw["tiers"])
    elif kind == "milestone":
        if "thresholds" in raw:
            _check_milestone_thresholds(out, raw["thresholds"])
        if "payable" in raw:
            _check_bool(out, ("payable",), "Payable", raw["payable"])
        out.found.extend(amounts_nok_problems(raw))


def _collect(raw: object) -> list[tuple[Loc, str, str]]:
    out = _Problems()
    known = ", ".join(KNOWN_TYPES)
    if not isinstance(raw, dict):
        out.add(
            (),
            "wrong_type",
            f'Criteria must be an object like {{"type": "threshold", "schema_version": 1, "threshold": 10}}; '
            f"got {_describe(raw)}.",
        )
        return out.found
    if "schema_version" not in raw:
        out.add(("schema_version",), "required", "Criteria need a schema_version; use 1.")
    elif type(raw["schema_version"]) is not int or raw["schema_version"] != SCHEMA_VERSION:
        value = raw["schema_version"]
        code = (
            "unsupported_version" if isinstance(value, int) and not isinstance(value, bool) else "wrong_type"
        )
        out.add(("schema_version",), code, _version_message(value))
    if "type" not in raw:
        out.add(("type",), "required", f"Choose a criteria type: one of {known}.")
        return out.found
    kind = raw["type"]
    if not isinstance(kind, str) or kind not in CRITERIA_MODELS:
        out.add(("type",), "unknown_type", f"Unknown criteria type {_quoted(kind)}. Known types: {known}.")
        return out.found
    _check_fields(out, (), raw, CRITERIA_MODELS[kind], f"a {kind} badge")
    _check_body(out, kind, raw)
    return out.found


# --- the public functions ----------------------------------------------------------------


def validate_criteria(raw: object) -> list[ErrorDetail]:
    """Every problem with a criteria document (parsed JSON); empty when it is valid. Never raises."""
    return [
        ErrorDetail(path=format_path(loc), code=code, message=message) for loc, code, message in _collect(raw)
    ]


def parse_criteria(raw: object) -> Criteria:
    """The criteria model for a valid document; ``CriteriaInvalid`` with every problem otherwise."""
    problems = validate_criteria(raw)
    if problems:
        raise CriteriaInvalid(problems)
    criteria: Criteria = _ADAPTER.validate_python(raw)
    return criteria


def _check_as_field(value: object) -> object:
    """Before pydantic validates a ``criteria`` field, report the admin-readable problems."""
    if isinstance(value, _Criteria):
        return value
    found = _collect(value)
    if found:
        raise ValidationError.from_exception_data(
            "criteria",
            [
                InitErrorDetails(type=_custom_error(code, message), loc=loc, input=value)
                for loc, code, message in found
            ],
        )
    return value


# A criteria field for other models: its validation errors carry our codes and messages.
CriteriaField = Annotated[Criteria, BeforeValidator(_check_as_field)]
