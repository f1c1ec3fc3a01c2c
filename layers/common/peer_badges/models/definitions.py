"""Badge definitions with every criteria type: the record (``BadgeDefinition``, its criteria also in
words) and what an org admin writes: create, patch, and the preview of how many mentors a document
would award.

Apart from the shared records in ``peer_badges.models``: this module loads every criteria type and
the wording of each, which a reader of milestones only (the stats read) does without."""

from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
)
from pydantic_core import PydanticCustomError

from peer_badges.criteria.registry import CriteriaField
from peer_badges.models import CriteriaText, DefinitionRecord, NonNegative, Record, RequestBody
from peer_badges.wording import criteria_text

MAX_KEY_LENGTH = 64
MAX_BADGE_NAME_LENGTH = 120
MAX_DESCRIPTION_LENGTH = 2000
MAX_ICON_LENGTH = 500
MAX_ICON_ALT_LENGTH = 200  # sql/020_icon_alt.sql checks the same


def _key_rule(value: str) -> str:
    if not value or not (value[0].isascii() and value[0].isalnum()):
        raise PydanticCustomError("invalid_value", "A key must start with a lowercase letter or a digit.")
    if any(not (char.isascii() and (char.isdigit() or char.islower() or char in "-_")) for char in value):
        raise PydanticCustomError(
            "invalid_value", "A key may only use lowercase letters a-z, digits, '-' and '_'."
        )
    return value


BadgeKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH), AfterValidator(_key_rule)
]
BadgeName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BADGE_NAME_LENGTH)
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
Icon = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ICON_LENGTH)]
# What a screen reader says instead of the icon (SPEC 8.7).
IconAlt = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ICON_ALT_LENGTH)
]
ICON_ALT_DOC = (
    "A text alternative for the icon, what a screen reader says instead of it: at most "
    f"{MAX_ICON_ALT_LENGTH} characters, trimmed; required whenever icon is set."
)
ICON_ALT_REQUIRED = (
    "A badge with an icon needs icon_alt: a short text alternative a screen reader can speak "
    f"(at most {MAX_ICON_ALT_LENGTH} characters)."
)


def missing_icon_alt(icon: str | None, icon_alt: str | None) -> list[dict[str, str]]:
    """The problem when an icon would be stored without its text alternative; empty otherwise."""
    if icon is not None and icon_alt is None:
        return [{"path": "icon_alt", "code": "required", "message": ICON_ALT_REQUIRED}]
    return []


class BadgeDefinition(DefinitionRecord):
    criteria: CriteriaField  # any criteria type

    @computed_field  # type: ignore[prop-decorator]
    @property
    def criteria_text(self) -> CriteriaText:
        """The criteria in plain words, nb and en (peer_badges.wording); read-only."""
        return criteria_text(self.criteria)


class BadgeDefinitionCreate(RequestBody):
    key: BadgeKey
    name: BadgeName
    description: Description | None = None
    icon: Icon | None = None
    icon_alt: IconAlt | None = Field(default=None, validate_default=True, description=ICON_ALT_DOC)
    criteria: CriteriaField
    active: StrictBool = True

    @field_validator("icon_alt")
    @classmethod
    def _icon_has_alt(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Reported at icon_alt, also when the field was left out.
        if missing_icon_alt(info.data.get("icon"), value):
            raise PydanticCustomError("required", ICON_ALT_REQUIRED)
        return value


class BadgeDefinitionPatch(RequestBody):
    """Only the fields sent change; ``model_fields_set`` (or ``changes()``) says which."""

    key: BadgeKey | None = None
    name: BadgeName | None = None
    description: Description | None = None
    icon: Icon | None = None
    icon_alt: IconAlt | None = Field(default=None, description=ICON_ALT_DOC)
    criteria: CriteriaField | None = None
    active: StrictBool | None = None

    @field_validator("key", "name", "criteria", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields actually sent: null would erase a required value.
        if value is None:
            raise PydanticCustomError(
                "required", "This field cannot be null; leave it out to keep its value."
            )
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, with their parsed values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class PreviewResponse(Record):
    qualifying: NonNegative
    evaluated: NonNegative
    sample: tuple[UUID, ...] = ()
