"""The contract models: JSON in and out, immutability, copies, equality, and request rules."""

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from peer_badges.models import (
    AssignmentCount,
    BadgeProgress,
    EarnedBadge,
    ErrorBody,
    ErrorDetail,
    ErrorResponse,
    HonorarMilestone,
    MilestoneStatus,
    Page,
    PeerMentorStats,
    StreakData,
    TrainingCompletion,
    TrainingStatus,
    ValidationResult,
)
from peer_badges.models.awards import (
    AwardRequest,
    BadgeAwardedEvent,
    EvaluationRequest,
    EvaluationResponse,
    RevokeRequest,
)
from peer_badges.models.definitions import (
    BadgeDefinition,
    BadgeDefinitionCreate,
    BadgeDefinitionPatch,
    PreviewResponse,
)

ORG = "0b6c5f2e-1d7a-4c1e-9f1a-3a2b4c5d6e7f"
MENTOR = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6"
DEFINITION = "c0ffee00-1234-4abc-8def-0123456789ab"
BADGE = "e4a1b2c3-d4e5-4f60-8172-839405162738"
ADMIN = "a11ce000-0000-4000-8000-000000000001"

THRESHOLD = {
    "type": "threshold",
    "schema_version": 1,
    "threshold": 10,
    "activity_types": ["assignment"],
    "window": {"kind": "rolling_days", "days": 90},
}
MILESTONE = {
    "type": "milestone",
    "schema_version": 1,
    "activity_types": ["assignment"],
    "thresholds": [3, 15],
    "payable": True,
    "amounts_nok": [2500, 8000],
}
COMPLETION = {
    "training_code": "basic-course",
    "completed_at": "2025-01-10T09:30:00Z",
    "expires_at": "2027-01-10T09:30:00+01:00",
}
PAYOUT_SUMMARY = {
    "id": "0b7a3f1e-6a2d-4c4e-9d1f-2b3c4d5e6f70",
    "badge_definition_id": "5d0c9a8b-7e6f-4a3b-8c2d-1e0f9a8b7c6d",
    "level": 1,
    "threshold": 3,
    "amount_nok": 2500,
    "earned_at": "2025-02-03",
    "income_year": 2025,
    "status": "paid",
    "approved_at": "2025-02-10T08:00:00Z",
    "paid_at": "2025-02-20T08:00:00Z",
}
HONORAR = {
    "thresholds": [3, 15],
    "thresholds_met": [3],
    "next_threshold": 15,
    "remaining_to_next": 4,
    "payouts": [PAYOUT_SUMMARY],
}
STATS = {
    "peer_mentor_id": MENTOR,
    "org_id": ORG,
    "assignment_count": {"total": 11, "by_type": {"assignment": 11}},
    "streak": {
        "current_streak_weeks": 2,
        "longest_streak_weeks": 6,
        "last_active_week": "2025-03-03",
        "paused_this_week": False,
    },
    "training": {"completed": [COMPLETION]},
    "honorar": HONORAR,
    "total_minutes": 540,
    "minutes_by_type": {"assignment": 420, "visit": 120},
    "first_activity_date": "2024-09-02",
    "last_activity_date": "2025-03-05",
    "updated_at": "2025-03-05T18:00:00Z",
}
EARNED = {
    "id": BADGE,
    "org_id": ORG,
    "peer_mentor_id": MENTOR,
    "badge_definition_id": DEFINITION,
    "level": 2,
    "earned_at": "2025-03-05",
    "awarded_at": "2025-03-05T18:00:01Z",
    "awarded_by": None,
    "source": "evaluation",
    "definition_revision": 3,
    "criteria_snapshot": MILESTONE,
    "note": None,
    "revoked_at": "2025-03-06T08:00:00Z",
    "revoked_by": ADMIN,
    "revoke_reason": "Registered by mistake",
}
PROGRESS = {
    "badge_definition_id": DEFINITION,
    "key": "honorar",
    "name": "Honorarium",
    "type": "milestone",
    "level": 2,
    "level_name": None,
    "current": 11,
    "target": 15,
    "earned": False,
    "earned_at": None,
    "members": [],
    "held": None,
    "icon_alt": "Coins for the honorarium",
    "criteria_text": {"nb": "Nå milepælen ved 3 aktiviteter.", "en": "Reach the milestone at 3 activities."},
}
DETAIL = {
    "path": "tiers[1].threshold",
    "code": "not_positive",
    "message": "Threshold must be greater than 0.",
}

# For each model: a complete JSON document in the form the model writes it back.
FULL: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (AssignmentCount, {"total": 7, "by_type": {"assignment": 5, "visit": 2}}),
    (
        StreakData,
        {
            "current_streak_weeks": 2,
            "longest_streak_weeks": 5,
            "last_active_week": "2025-03-03",
            "paused_this_week": False,
        },
    ),
    (TrainingCompletion, COMPLETION),
    (TrainingStatus, {"completed": [COMPLETION]}),
    (HonorarMilestone, HONORAR),
    (PeerMentorStats, STATS),
    (BadgeProgress, PROGRESS),
    (
        MilestoneStatus,
        {
            "peer_mentor_id": MENTOR,
            "org_id": ORG,
            "crossed_thresholds": [3],
            "next_threshold": 15,
            "remaining_to_next": 4,
            "badges": [PROGRESS],
        },
    ),
    (
        BadgeDefinition,
        {
            "id": DEFINITION,
            "org_id": ORG,
            "key": "ten-assignments",
            "name": "Ten assignments",
            "description": "Ten assignments in 90 days",
            "icon": "star",
            "icon_alt": "A star",
            "criteria": THRESHOLD,
            "active": True,
            "revision": 2,
            "archived_at": None,
            "created_at": "2025-01-01T08:00:00Z",
            "updated_at": "2025-02-01T08:00:00+01:00",
            # read-only, computed from the criteria (peer_badges.wording)
            "criteria_text": {
                "nb": "Registrer 10 aktiviteter av typen «assignment» i løpet av de siste 90 dagene.",
                "en": "Register 10 activities of type “assignment” in the last 90 days.",
            },
        },
    ),
    (
        BadgeDefinitionCreate,
        {
            "key": "honorar",
            "name": "Honorarium",
            "description": None,
            "icon": "coins",
            "icon_alt": "Three coins",
            "criteria": MILESTONE,
            "active": False,
        },
    ),
    (
        BadgeDefinitionPatch,
        {
            "key": "honorar-2",
            "name": "Honorar",
            "description": "Paid at 3 and 15",
            "icon": None,
            "icon_alt": None,
            "criteria": MILESTONE,
            "active": True,
        },
    ),
    (EarnedBadge, EARNED),
    (AwardRequest, {"badge_definition_id": DEFINITION, "level": 2, "note": "Covered the summer camp"}),
    (RevokeRequest, {"reason": "Registered by mistake"}),
    (EvaluationRequest, {"mentor_ids": [MENTOR], "dry_run": True}),
    (EvaluationResponse, {"evaluated": 1, "awarded": [EARNED]}),
    (Page[EarnedBadge], {"items": [EARNED], "next_cursor": "opaque-cursor"}),
    (ErrorDetail, DETAIL),
    (ErrorBody, {"code": "validation_failed", "message": "See details.", "details": [DETAIL]}),
    (ErrorResponse, {"error": {"code": "not_found", "message": "No such badge.", "details": []}}),
    (BadgeAwardedEvent, {**EARNED, "backfill": True, "payable": True}),
    (ValidationResult, {"valid": False, "problems": [DETAIL]}),
    (PreviewResponse, {"qualifying": 3, "evaluated": 40, "sample": [MENTOR]}),
]

# For each model: only what must be sent; everything else has a default.
MINIMAL: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (AssignmentCount, {}),
    (StreakData, {}),
    (TrainingCompletion, {"training_code": "basic-course", "completed_at": "2025-01-10T09:30:00Z"}),
    (TrainingStatus, {}),
    (HonorarMilestone, {}),
    (PeerMentorStats, {"peer_mentor_id": MENTOR, "org_id": ORG, "updated_at": "2025-03-05T18:00:00Z"}),
    (
        BadgeProgress,
        {
            k: v
            for k, v in PROGRESS.items()
            if k not in ("level_name", "earned_at", "members", "held", "icon_alt")
        },
    ),
    (MilestoneStatus, {"peer_mentor_id": MENTOR, "org_id": ORG}),
    (
        BadgeDefinition,
        {
            "id": DEFINITION,
            "org_id": ORG,
            "key": "k",
            "name": "N",
            "criteria": {"type": "manual", "schema_version": 1},
            "revision": 1,
            "created_at": "2025-01-01T08:00:00Z",
            "updated_at": "2025-01-01T08:00:00Z",
        },
    ),
    (BadgeDefinitionCreate, {"key": "k", "name": "N", "criteria": {"type": "manual", "schema_version": 1}}),
    (BadgeDefinitionPatch, {}),
    (
        EarnedBadge,
        {
            k: v
            for k, v in EARNED.items()
            if k not in ("awarded_by", "note", "revoked_at", "revoked_by", "revoke_reason")
        },
    ),
    (AwardRequest, {"badge_definition_id": DEFINITION}),
    (RevokeRequest, {"reason": "r"}),
    (EvaluationRequest, {}),
    (EvaluationResponse, {"evaluated": 0}),
    (Page[EarnedBadge], {}),
    (ErrorDetail, DETAIL),
    (ErrorBody, {"code": "c", "message": "m"}),
    (ErrorResponse, {"error": {"code": "c", "message": "m"}}),
    (BadgeAwardedEvent, {**EARNED, "backfill": False, "payable": False}),
    (ValidationResult, {"valid": True}),
    (PreviewResponse, {"qualifying": 0, "evaluated": 0}),
]

# The keys SPEC section 7 fixes for each model.
SPEC_KEYS: dict[type[BaseModel], set[str]] = {
    AssignmentCount: {"total", "by_type"},
    StreakData: {"current_streak_weeks", "longest_streak_weeks", "last_active_week", "paused_this_week"},
    TrainingCompletion: {"training_code", "completed_at", "expires_at"},
    TrainingStatus: {"completed"},
    HonorarMilestone: {"thresholds", "thresholds_met", "next_threshold", "remaining_to_next"},
    PeerMentorStats: {
        "peer_mentor_id",
        "org_id",
        "assignment_count",
        "streak",
        "training",
        "honorar",
        "total_minutes",
        "first_activity_date",
        "last_activity_date",
        "updated_at",
    },
    BadgeProgress: {
        "badge_definition_id",
        "key",
        "name",
        "type",
        "level",
        "current",
        "target",
        "earned",
        "earned_at",
    },
    MilestoneStatus: {"peer_mentor_id", "org_id", "crossed_thresholds", "next_threshold", "badges"},
    BadgeDefinition: {
        "id",
        "org_id",
        "key",
        "name",
        "description",
        "icon",
        "icon_alt",
        "criteria",
        "criteria_text",
        "active",
        "revision",
        "archived_at",
        "created_at",
        "updated_at",
    },
    BadgeDefinitionCreate: {"key", "name", "description", "icon", "icon_alt", "criteria", "active"},
    BadgeDefinitionPatch: {"key", "name", "description", "icon", "icon_alt", "criteria", "active"},
    EarnedBadge: {
        "id",
        "org_id",
        "peer_mentor_id",
        "badge_definition_id",
        "level",
        "earned_at",
        "awarded_at",
        "awarded_by",
        "source",
        "definition_revision",
        "criteria_snapshot",
        "revoked_at",
        "revoked_by",
        "revoke_reason",
    },
    AwardRequest: {"badge_definition_id", "level", "note"},
    RevokeRequest: {"reason"},
    EvaluationRequest: {"mentor_ids", "dry_run"},
    EvaluationResponse: {"evaluated", "awarded"},
    Page[EarnedBadge]: {"items", "next_cursor"},
    ErrorDetail: {"path", "code", "message"},
    ErrorBody: {"code", "message", "details"},
    ErrorResponse: {"error"},
    ValidationResult: {"valid", "problems"},
    PreviewResponse: {"qualifying", "evaluated", "sample"},
}
SPEC_KEYS[BadgeAwardedEvent] = SPEC_KEYS[EarnedBadge] | {"backfill", "payable"}

# For each model: one field and a new value for it.
CHANGES: dict[type[BaseModel], tuple[str, Any]] = {
    AssignmentCount: ("total", 8),
    StreakData: ("current_streak_weeks", 3),
    TrainingCompletion: ("training_code", "first-aid"),
    TrainingStatus: ("completed", ()),
    HonorarMilestone: ("next_threshold", None),
    PeerMentorStats: ("total_minutes", 600),
    BadgeProgress: ("earned", True),
    MilestoneStatus: ("next_threshold", None),
    BadgeDefinition: ("name", "Renamed"),
    BadgeDefinitionCreate: ("active", True),
    BadgeDefinitionPatch: ("icon", "medal"),
    EarnedBadge: ("revoke_reason", None),
    AwardRequest: ("level", 1),
    RevokeRequest: ("reason", "Duplicate"),
    EvaluationRequest: ("dry_run", False),
    EvaluationResponse: ("evaluated", 2),
    Page[EarnedBadge]: ("next_cursor", None),
    ErrorDetail: ("code", "required"),
    ErrorBody: ("message", "Other"),
    ErrorResponse: ("error", ErrorBody(code="x", message="y")),
    BadgeAwardedEvent: ("backfill", False),
    ValidationResult: ("valid", True),
    PreviewResponse: ("qualifying", 4),
}

# Datetime fields (as a path into the full document) that must carry a timezone.
DATETIMES: list[tuple[type[BaseModel], tuple[str | int, ...]]] = [
    (TrainingCompletion, ("completed_at",)),
    (TrainingCompletion, ("expires_at",)),
    (TrainingStatus, ("completed", 0, "completed_at")),
    (PeerMentorStats, ("updated_at",)),
    (PeerMentorStats, ("training", "completed", 0, "expires_at")),
    (BadgeDefinition, ("created_at",)),
    (BadgeDefinition, ("updated_at",)),
    (EarnedBadge, ("awarded_at",)),
    (EarnedBadge, ("revoked_at",)),
    (BadgeAwardedEvent, ("awarded_at",)),
    (EvaluationResponse, ("awarded", 0, "awarded_at")),
]


def _name(model: type[BaseModel]) -> str:
    return model.__name__


def _full(model: type[BaseModel]) -> dict[str, Any]:
    return dict(FULL)[model]


@pytest.mark.parametrize(("model", "document"), FULL, ids=[_name(m) for m, _ in FULL])
def test_from_json_maps_every_field_including_nested(
    model: type[BaseModel], document: dict[str, Any]
) -> None:
    # Given a complete JSON document
    # When it is read and written back
    parsed = model.model_validate_json(json.dumps(document))
    # Then every field, nested ones included, arrives and leaves unchanged
    assert parsed.model_dump(mode="json") == document


@pytest.mark.parametrize("model", SPEC_KEYS, ids=_name)
def test_to_json_gives_the_spec_keys(model: type[BaseModel]) -> None:
    # Given a model read from its complete document
    parsed = model.model_validate(_full(model))
    # When it is written as JSON
    keys = set(json.loads(parsed.model_dump_json()))
    # Then it carries every key the SPEC fixes, in snake_case
    assert SPEC_KEYS[model] <= keys
    assert all(key == key.lower() for key in keys)


@pytest.mark.parametrize(("model", "document"), FULL, ids=[_name(m) for m, _ in FULL])
def test_round_trip_preserves_values(model: type[BaseModel], document: dict[str, Any]) -> None:
    original = model.model_validate(document)
    assert model.model_validate_json(original.model_dump_json()) == original
    assert model.model_validate(original.model_dump(mode="json")) == original


@pytest.mark.parametrize("model", CHANGES, ids=_name)
def test_copy_with_changes_alters_only_those_fields(model: type[BaseModel]) -> None:
    # Given a model and one field to change
    original = model.model_validate(_full(model))
    field, value = CHANGES[model]
    # When it is copied with that change
    changed = original.model_copy(update={field: value})
    # Then the copy has the new value, every other field is as before, and the original is intact
    assert getattr(changed, field) == value
    for name in type(original).model_fields:
        if name != field:
            assert getattr(changed, name) == getattr(original, name)
    assert original == model.model_validate(_full(model))


@pytest.mark.parametrize(("model", "document"), FULL, ids=[_name(m) for m, _ in FULL])
def test_equal_fields_mean_equal_objects(model: type[BaseModel], document: dict[str, Any]) -> None:
    first = model.model_validate(document)
    second = model.model_validate_json(json.dumps(document))
    assert first == second
    field, value = CHANGES[model]
    assert first.model_copy(update={field: value}) != first


@pytest.mark.parametrize(("model", "document"), MINIMAL, ids=[_name(m) for m, _ in MINIMAL])
def test_missing_optional_fields_do_not_raise(model: type[BaseModel], document: dict[str, Any]) -> None:
    parsed = model.model_validate_json(json.dumps(document))
    for name, field in type(parsed).model_fields.items():
        if name not in document:
            assert not field.is_required()


@pytest.mark.parametrize("model", SPEC_KEYS, ids=_name)
def test_models_are_frozen(model: type[BaseModel]) -> None:
    parsed = model.model_validate(_full(model))
    field = next(iter(type(parsed).model_fields))
    with pytest.raises(ValidationError):
        setattr(parsed, field, getattr(parsed, field))


def _set(document: Any, path: tuple[str | int, ...], value: Any) -> Any:
    copied = json.loads(json.dumps(document))
    target = copied
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copied


@pytest.mark.parametrize(("model", "path"), DATETIMES, ids=[f"{_name(m)}.{p[-1]}" for m, p in DATETIMES])
def test_naive_datetimes_are_rejected(model: type[BaseModel], path: tuple[str | int, ...]) -> None:
    document = _set(_full(model), path, "2025-03-05T18:00:00")
    with pytest.raises(ValidationError) as raised:
        model.model_validate(document)
    assert raised.value.errors()[0]["type"] == "timezone_aware"


def test_dates_and_datetimes_serialise_as_iso_8601() -> None:
    stats = PeerMentorStats.model_validate(STATS)
    written = stats.model_dump(mode="json")
    assert written["updated_at"] == "2025-03-05T18:00:00Z"
    assert written["streak"]["last_active_week"] == "2025-03-03"
    assert written["training"]["completed"][0]["expires_at"] == "2027-01-10T09:30:00+01:00"


# --- request rules -----------------------------------------------------------------------

REQUESTS = [BadgeDefinitionCreate, BadgeDefinitionPatch, AwardRequest, RevokeRequest, EvaluationRequest]


@pytest.mark.parametrize("model", REQUESTS, ids=_name)
def test_requests_reject_unknown_fields(model: type[BaseModel]) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate({**_full(model), "surprise": 1})
    assert raised.value.errors()[0]["type"] == "extra_forbidden"


def test_rows_ignore_extra_columns() -> None:
    row = {**_full(EarnedBadge), "created_at": "2025-03-05T18:00:01Z"}
    assert EarnedBadge.model_validate(row) == EarnedBadge.model_validate(EARNED)


@pytest.mark.parametrize("level", [0, -1, 21, "2", True, 1.5, None])
def test_award_level_must_be_a_whole_number_from_one(level: object) -> None:
    with pytest.raises(ValidationError):
        AwardRequest.model_validate({"badge_definition_id": DEFINITION, "level": level})


def test_award_note_is_bounded() -> None:
    with pytest.raises(ValidationError):
        AwardRequest.model_validate({"badge_definition_id": DEFINITION, "note": "x" * 1001})


def test_award_needs_a_uuid_definition() -> None:
    with pytest.raises(ValidationError) as raised:
        AwardRequest.model_validate({"badge_definition_id": "not-a-uuid"})
    assert raised.value.errors()[0]["loc"] == ("badge_definition_id",)


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 1001])
def test_revoke_needs_a_reason_of_bounded_length(reason: object) -> None:
    with pytest.raises(ValidationError):
        RevokeRequest.model_validate({"reason": reason})


def test_revoke_reason_is_trimmed() -> None:
    assert RevokeRequest(reason="  duplicate  ").reason == "duplicate"


@pytest.mark.parametrize(
    "document",
    [{"mentor_ids": []}, {"mentor_ids": [MENTOR] * 1001}, {"mentor_ids": ["nope"]}, {"dry_run": "yes"}],
)
def test_evaluation_request_is_bounded_and_typed(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EvaluationRequest.model_validate(document)


def test_evaluation_request_defaults_to_every_mentor_for_real() -> None:
    request = EvaluationRequest.model_validate({})
    assert request.mentor_ids is None
    assert request.dry_run is False


def test_definition_create_reports_criteria_problems_in_admin_words() -> None:
    # Given a definition whose criteria have two problems
    document = {
        "key": "k",
        "name": "N",
        "criteria": {"type": "tier", "schema_version": 1, "tiers": [{"name": "B", "threshold": 0}], "x": 1},
    }
    # When it is validated as a request
    with pytest.raises(ValidationError) as raised:
        BadgeDefinitionCreate.model_validate_json(json.dumps(document))
    # Then both problems come back with our codes, paths and messages
    errors = {(e["loc"], e["type"]): e["msg"] for e in raised.value.errors()}
    assert set(errors) == {
        (("criteria", "x"), "unknown_field"),
        (("criteria", "tiers", 0, "threshold"), "not_positive"),
    }
    assert errors[(("criteria", "tiers", 0, "threshold"), "not_positive")] == (
        "The threshold of tier 1 must be greater than 0; got 0."
    )


@pytest.mark.parametrize("key", ["Honorar", "-x", "with space", "ø", "", "x" * 65])
def test_definition_keys_are_lowercase_slugs(key: str) -> None:
    with pytest.raises(ValidationError):
        BadgeDefinitionCreate.model_validate({**_full(BadgeDefinitionCreate), "key": key})


def test_definition_create_trims_the_name_and_defaults_to_active() -> None:
    created = BadgeDefinitionCreate.model_validate(
        {**dict(MINIMAL)[BadgeDefinitionCreate], "name": "  Ten  "}
    )
    assert created.name == "Ten"
    assert created.active is True


def test_patch_exposes_the_fields_actually_sent() -> None:
    # Given a patch that sends a name and clears the icon
    patch = BadgeDefinitionPatch.model_validate_json('{"name": "New", "icon": null}')
    # Then exactly those fields are reported as changes
    assert patch.model_fields_set == {"name", "icon"}
    assert patch.changes() == {"name": "New", "icon": None}


@pytest.mark.parametrize("field", ["key", "name", "criteria", "active"])
def test_patch_cannot_null_a_required_field(field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        BadgeDefinitionPatch.model_validate({field: None})
    assert raised.value.errors()[0]["type"] == "required"


def test_patch_criteria_are_parsed() -> None:
    patch = BadgeDefinitionPatch.model_validate({"criteria": MILESTONE})
    assert patch.changes()["criteria"].thresholds == (3, 15)


def test_streak_last_active_week_is_a_monday() -> None:
    with pytest.raises(ValidationError):
        StreakData.model_validate({"last_active_week": "2025-03-04"})


def test_current_streak_cannot_exceed_the_longest() -> None:
    with pytest.raises(ValidationError):
        StreakData(current_streak_weeks=3, longest_streak_weeks=2)


def test_definition_is_live_only_when_active_and_not_archived() -> None:
    definition = BadgeDefinition.model_validate(_full(BadgeDefinition))
    assert definition.live
    assert not definition.model_copy(update={"active": False}).live
    assert not BadgeDefinition.model_validate(
        {**_full(BadgeDefinition), "archived_at": "2025-03-01T00:00:00Z"}
    ).live


def test_definition_is_payable_only_for_payable_milestones() -> None:
    threshold = BadgeDefinition.model_validate(_full(BadgeDefinition))
    milestone = BadgeDefinition.model_validate({**_full(BadgeDefinition), "criteria": MILESTONE})
    assert not threshold.payable
    assert milestone.payable


def test_award_event_is_the_earned_badge_plus_flags() -> None:
    badge = EarnedBadge.model_validate(EARNED)
    event = BadgeAwardedEvent.of(badge, backfill=True, payable=False)
    assert event.model_dump(mode="json") == {**EARNED, "backfill": True, "payable": False}
    assert badge.revoked


def test_validation_result_is_valid_without_problems() -> None:
    assert ValidationResult.of([]) == ValidationResult(valid=True)
    problem = ErrorDetail.model_validate(DETAIL)
    assert ValidationResult.of([problem]) == ValidationResult(valid=False, problems=(problem,))


def test_pages_are_generic_over_their_items() -> None:
    page = Page[BadgeDefinition].model_validate({"items": [_full(BadgeDefinition)]})
    assert isinstance(page.items[0], BadgeDefinition)
    assert page.next_cursor is None
    with pytest.raises(ValidationError):
        Page[BadgeDefinition].model_validate({"items": [EARNED]})
