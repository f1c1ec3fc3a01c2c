"""Preview: how many of the org's peer mentors a criteria document would award now, and a sample.

A count and a sample of the criteria type's own set-based query (``badge_queries.preview_counts``), the
same query reconcile and definition backfills award from, so a preview can never disagree with what
saving the definition then awards (as Discourse's badge preview runs the badge's query).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StrictInt, ValidationError

from peer_badges.badge_queries import preview_counts
from peer_badges.clock import OrgClock
from peer_badges.criteria.prerequisite import reference_problems
from peer_badges.criteria.registry import Criteria, parse_criteria, validate_criteria
from peer_badges.db import Queryable
from peer_badges.definitions import invalid_criteria, org_criteria, problems_from
from peer_badges.models import Record
from peer_badges.models.definitions import BadgeDefinitionPatch, PreviewResponse

MAX_SAMPLE_SIZE = 50


class PreviewDraft(BadgeDefinitionPatch):
    """A definition draft as an admin form holds it: its criteria are previewed, its other fields
    checked like a PATCH (so a form can preview while it is being filled in)."""

    sample_size: Annotated[StrictInt, Field(ge=0, le=MAX_SAMPLE_SIZE)] = 10


class LevelPreview(Record):
    level: int
    target: int
    qualifying: int


class DefinitionPreview(PreviewResponse):
    """``qualifying`` of the ``evaluated`` peer mentors reach level 1 now; ``sample`` are some of them."""

    levels: tuple[LevelPreview, ...] = ()
    note: str | None = None


def preview(
    db: Queryable, org_id: UUID, criteria: Criteria, sample_size: int = 10, today: date | None = None
) -> DefinitionPreview:
    """One statement; ``today`` defaults to the org's date now."""
    today = today if today is not None else OrgClock(datetime.now(UTC)).today(db, org_id)
    row = preview_counts(db, org_id, criteria, today, sample_size)
    note = None
    if not criteria.auto_awarded:
        note = "Manual badges are never awarded automatically: coordinators and admins award them."
    levels = tuple(LevelPreview.model_validate(item) for item in row["levels"])
    return DefinitionPreview(
        qualifying=levels[0].qualifying if levels else 0,
        evaluated=row["evaluated"],
        sample=tuple(row["sample"] or ()),
        levels=levels,
        note=note,
    )


def preview_draft(db: Queryable, org_id: UUID, body: object) -> DefinitionPreview:
    """``preview`` for a request body: a criteria document, or a draft ``{"criteria": ..., ...}``."""
    if isinstance(body, dict) and "criteria" in body and "type" not in body:
        try:
            draft = PreviewDraft.model_validate(body)
        except ValidationError as error:
            raise invalid_criteria(problems_from(error)) from error
        assert draft.criteria is not None  # sent, and null is refused
        _known_prerequisites(db, org_id, draft.criteria, ("criteria",))
        return preview(db, org_id, draft.criteria, draft.sample_size)
    problems = validate_criteria(body)
    if problems:
        raise invalid_criteria(problems)
    criteria = parse_criteria(body)
    _known_prerequisites(db, org_id, criteria, ())
    return preview(db, org_id, criteria)


def _known_prerequisites(db: Queryable, org_id: UUID, criteria: Criteria, prefix: tuple[str, ...]) -> None:
    problems = reference_problems(criteria, None, org_criteria(db, org_id), prefix=prefix)
    if problems:
        raise invalid_criteria(problems)
