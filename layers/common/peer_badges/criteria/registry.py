"""The closed set of criteria types, the discriminated union over them, and the functions that take
a document of any type: ``validate_criteria`` explains every problem in words an org admin can act
on; ``parse_criteria`` turns a valid document into one of the frozen models; ``CriteriaField`` is a
criteria field for other models, whose validation errors carry the same codes and messages."""

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails

from peer_badges.criteria.base import (
    SCHEMA_VERSION,
    CriteriaBase,
    CriteriaInvalid,
    ErrorDetail,
    Loc,
    Problems,
    check_known_fields,
    custom_error,
    describe,
    format_path,
    quoted,
    version_message,
)
from peer_badges.criteria.combination import AllOfCriteria, AnyOfCriteria, check_members
from peer_badges.criteria.manual import ManualCriteria
from peer_badges.criteria.milestone import MilestoneCriteria
from peer_badges.criteria.prerequisite import RequiresBadgeCriteria
from peer_badges.criteria.streak import StreakCriteria
from peer_badges.criteria.threshold import ThresholdCriteria
from peer_badges.criteria.tier import TierCriteria
from peer_badges.criteria.training import TrainingCompletionCriteria

# The closed set: one entry per type module.
CRITERIA_TYPES: tuple[type[CriteriaBase], ...] = (
    ThresholdCriteria,
    StreakCriteria,
    TrainingCompletionCriteria,
    TierCriteria,
    MilestoneCriteria,
    ManualCriteria,
    AllOfCriteria,
    AnyOfCriteria,
    RequiresBadgeCriteria,
)
CRITERIA_MODELS: dict[str, type[CriteriaBase]] = {model.type_name(): model for model in CRITERIA_TYPES}
KNOWN_TYPES = tuple(CRITERIA_MODELS)

if TYPE_CHECKING:
    Criteria = CriteriaBase
else:
    Criteria = Annotated[Union[CRITERIA_TYPES], Field(discriminator="type")]  # noqa: UP007
# Built on first parse_criteria; models holding a CriteriaField build their own validators.
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Criteria, config=ConfigDict(defer_build=True))

__all__ = [
    "CRITERIA_MODELS",
    "CRITERIA_TYPES",
    "KNOWN_TYPES",
    "Criteria",
    "CriteriaField",
    "collect",
    "parse_criteria",
    "validate_criteria",
]


def collect(raw: object, depth: int = 1) -> list[tuple[Loc, str, str]]:
    """Every problem with a criteria document as ``(location, code, message)``; ``depth`` is how deep a
    combination's member the document is (1 at the top)."""
    out = Problems()
    known = ", ".join(KNOWN_TYPES)
    if not isinstance(raw, dict):
        out.add(
            (),
            "wrong_type",
            f'Criteria must be an object like {{"type": "threshold", "schema_version": 1, "threshold": 10}}; '
            f"got {describe(raw)}.",
        )
        return out.found
    if "schema_version" not in raw:
        out.add(("schema_version",), "required", "Criteria need a schema_version; use 1.")
    elif type(raw["schema_version"]) is not int or raw["schema_version"] != SCHEMA_VERSION:
        value = raw["schema_version"]
        code = (
            "unsupported_version" if isinstance(value, int) and not isinstance(value, bool) else "wrong_type"
        )
        out.add(("schema_version",), code, version_message(value))
    if "type" not in raw:
        out.add(("type",), "required", f"Choose a criteria type: one of {known}.")
        return out.found
    kind = raw["type"]
    if not isinstance(kind, str) or kind not in CRITERIA_MODELS:
        out.add(("type",), "unknown_type", f"Unknown criteria type {quoted(kind)}. Known types: {known}.")
        return out.found
    check_known_fields(out, (), raw, CRITERIA_MODELS[kind], f"a {kind} badge")
    if kind in ("all_of", "any_of"):
        check_members(out, (), raw, depth)
    else:
        CRITERIA_MODELS[kind].check_fields(out, raw)
    return out.found


# --- the public functions ----------------------------------------------------------------


def validate_criteria(raw: object) -> list[ErrorDetail]:
    """Every problem with a criteria document (parsed JSON); empty when it is valid. Never raises."""
    return [
        ErrorDetail(path=format_path(loc), code=code, message=message) for loc, code, message in collect(raw)
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
    if isinstance(value, CriteriaBase):
        return value
    found = collect(value)
    if found:
        raise ValidationError.from_exception_data(
            "criteria",
            [
                InitErrorDetails(type=custom_error(code, message), loc=loc, input=value)
                for loc, code, message in found
            ],
        )
    return value


# A criteria field for other models: its validation errors carry our codes and messages.
CriteriaField = Annotated[Criteria, BeforeValidator(_check_as_field)]
