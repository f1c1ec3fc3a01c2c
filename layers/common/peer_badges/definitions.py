"""Badge definitions: what org admins configure, and the per-container cache everyone reads.

Mutations run in one short transaction each: lock the row, check the caller's revision, write
only the columns that change, write the audit row and (when awarding could change) queue a quiet
backfill evaluation for the org's peer mentors. The ``revision`` column is bumped by a trigger on
every change, so it is the ETag clients send back in ``If-Match``.

The cache (``cached_org_definitions``) serves the org's non-archived definitions to the stats
reader and the evaluator. A read inside the TTL costs one primary-key lookup of the org's
definitions version (bumped by a trigger in ``sql/004_definitions.sql`` on every change from any
client); the list is reloaded when the version moved or the TTL ran out.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from uuid import UUID

from aws_lambda_powertools import Logger
from pg8000.exceptions import DatabaseError
from pydantic import Field, StrictInt, ValidationError

from peer_badges.criteria import (
    CalendarYear,
    Criteria,
    CriteriaField,
    ErrorDetail,
    ManualCriteria,
    RollingDays,
    StreakCriteria,
    TrainingCompletionCriteria,
    format_path,
    parse_criteria,
    validate_criteria,
)
from peer_badges.db import Database, Json, Row, Transaction, sqlstate
from peer_badges.drain import enqueue
from peer_badges.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from peer_badges.models import (
    BadgeDefinition,
    BadgeDefinitionCreate,
    BadgeDefinitionPatch,
    PreviewResponse,
    Record,
    RequestBody,
    ValidationResult,
)
from peer_badges.settings import get_settings

logger = Logger(service="peer-badges", child=True)

# Bounds the list response (returned whole) and the cache's memory per org.
MAX_DEFINITIONS_PER_ORG = 500

ENTITY_TYPE = "badge_definition"

_COLUMNS = ", ".join(
    (
        "id",
        "org_id",
        "key",
        "name",
        "description",
        "icon",
        "criteria",
        "active",
        "revision",
        "archived_at",
        "created_at",
        "updated_at",
    )
)


class Queryable(Protocol):
    def query(self, sql: str, **params: Any) -> list[Row]: ...

    def query_one(self, sql: str, **params: Any) -> Row | None: ...


# --- rows -> models ----------------------------------------------------------------------


def _definition(row: Mapping[str, Any]) -> BadgeDefinition:
    return BadgeDefinition.model_validate(dict(row))


def _definitions(rows: list[Row]) -> list[BadgeDefinition]:
    """Rows as models; a row whose stored criteria no longer parse is skipped, loudly.

    Such a row can only come from a client writing the table directly; one bad definition must not
    stop an org's stats and evaluation.
    """
    definitions = []
    for row in rows:
        try:
            definitions.append(_definition(row))
        except ValidationError as error:
            logger.error(
                "stored badge definition is not valid; skipped",
                extra={
                    "definition_id": str(row.get("id")),
                    "org_id": str(row.get("org_id")),
                    "error": str(error),
                },
            )
    return definitions


def _key_taken(key: str | None) -> Conflict:
    return Conflict(f'A badge with the key "{key}" already exists in this organisation; choose another key.')


def _not_found(definition_id: UUID) -> NotFound:
    return NotFound(f"There is no badge definition {definition_id} in this organisation.")


# --- the cache ---------------------------------------------------------------------------

_VERSION_SQL = "SELECT version FROM org_definition_versions WHERE org_id = :org_id"
# For reads that fold the version check into their own statement.
VERSION_COLUMN = "COALESCE((SELECT version FROM org_definition_versions WHERE org_id = :org_id), 0)"

# One statement, so the version and the list come from the same snapshot.
_LOAD_SQL = f"""
SELECT v.version, {", ".join("d." + column.strip() for column in _COLUMNS.split(","))}
  FROM (SELECT COALESCE((SELECT version FROM org_definition_versions WHERE org_id = :org_id), 0) AS version)
       AS v
  LEFT JOIN badge_definitions AS d ON d.org_id = :org_id AND d.archived_at IS NULL
 ORDER BY d.key
"""


@dataclass(frozen=True)
class _Entry:
    version: int
    definitions: tuple[BadgeDefinition, ...]
    loaded_at: float


class DefinitionsCache:
    """Per-container cache of each org's non-archived definitions (active and inactive).

    ``clock`` is injectable for tests; ``ttl`` defaults to ``settings.definitions_cache_ttl_s``.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, ttl: float | None = None, max_orgs: int = 256
    ) -> None:
        self._clock = clock
        self._ttl = ttl
        self._max_orgs = max_orgs
        self._entries: OrderedDict[UUID, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def ttl(self) -> float:
        if self._ttl is None:
            self._ttl = get_settings().definitions_cache_ttl_s
        return self._ttl

    def get(self, db: Queryable, org_id: UUID, current_version: int | None = None) -> list[BadgeDefinition]:
        """`current_version`: the org's definitions version if the caller already read it in the same
        statement as its other data (saves the version round trip)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(org_id)
        if entry is not None and now - entry.loaded_at <= self.ttl:
            if current_version is None:
                row = db.query_one(_VERSION_SQL, org_id=org_id)
                current_version = int((row or {}).get("version") or 0)
            if current_version == entry.version:
                return list(entry.definitions)
        return list(self._load(db, org_id, now).definitions)

    def _load(self, db: Queryable, org_id: UUID, now: float) -> _Entry:
        rows = db.query(_LOAD_SQL, org_id=org_id)
        version = int(rows[0]["version"]) if rows else 0
        entry = _Entry(version, tuple(_definitions([row for row in rows if row["id"] is not None])), now)
        with self._lock:
            self._entries[org_id] = entry
            self._entries.move_to_end(org_id)
            while len(self._entries) > self._max_orgs:
                self._entries.popitem(last=False)
        return entry

    def invalidate(self, org_id: UUID | None = None) -> None:
        """Forget one org (after a mutation in this container) or everything."""
        with self._lock:
            if org_id is None:
                self._entries.clear()
            else:
                self._entries.pop(org_id, None)


definitions_cache = DefinitionsCache()


def cached_org_definitions(
    db: Queryable, org_id: UUID, current_version: int | None = None
) -> list[BadgeDefinition]:
    """The org's non-archived definitions, active and inactive (consumers filter), never stale."""
    return definitions_cache.get(db, org_id, current_version)


# --- reads -------------------------------------------------------------------------------


def list_definitions(db: Database, org_id: UUID, include_archived: bool = False) -> list[BadgeDefinition]:
    if not include_archived:
        return cached_org_definitions(db, org_id)
    return _definitions(
        db.query(
            f"SELECT {_COLUMNS} FROM badge_definitions WHERE org_id = :org_id ORDER BY key", org_id=org_id
        )
    )


def get_definition(db: Database, org_id: UUID, definition_id: UUID) -> BadgeDefinition:
    row = db.query_one(
        f"SELECT {_COLUMNS} FROM badge_definitions WHERE org_id = :org_id AND id = :id",
        org_id=org_id,
        id=definition_id,
    )
    if row is None:
        raise _not_found(definition_id)
    return _definition(row)


# --- validation --------------------------------------------------------------------------


def _problems_from(error: ValidationError) -> list[ErrorDetail]:
    return [
        ErrorDetail(path=format_path(item["loc"]), code=item["type"], message=item["msg"])
        for item in error.errors(include_url=False)
    ]


def validate_draft(body: object) -> ValidationResult:
    """Check without storing: a criteria document, or a definition draft ``{"criteria": ..., ...}``.

    A draft's other fields are checked when present, so an admin form can be checked as it is typed.
    """
    if isinstance(body, dict) and "criteria" in body and "type" not in body:
        try:
            BadgeDefinitionPatch.model_validate(body)
        except ValidationError as error:
            return ValidationResult.of(_problems_from(error))
        return ValidationResult.of([])
    return ValidationResult.of(validate_criteria(body))


# --- mutations ---------------------------------------------------------------------------


@contextmanager
def _constraint_errors(key: str | None) -> Iterator[None]:
    """Turn the table's own guards into the answers the client can act on."""
    try:
        yield
    except DatabaseError as error:
        state = sqlstate(error)
        if state == "23505":
            raise _key_taken(key) from error
        if state == "23514":
            # The table's CHECKs are named badge_definitions_<column>_check.
            constraint = str(error.args[0].get("n", ""))
            field = constraint.removeprefix("badge_definitions_").removesuffix("_check") or "body"
            message = f"The {field} is longer or shaped differently than a badge definition allows."
            raise Unprocessable(
                message, [{"path": field, "code": "invalid_value", "message": message}]
            ) from error
        raise


def _audit(
    tx: Transaction,
    org_id: UUID,
    actor_id: UUID,
    action: str,
    entity_id: UUID,
    before: BadgeDefinition | None,
    after: BadgeDefinition | None,
    correlation_id: str | None,
) -> None:
    tx.execute(
        """INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                                  correlation_id)
           VALUES (:org_id, :actor_id, 'user', :action, :entity_type, :entity_id,
                   CAST(:before AS jsonb), CAST(:after AS jsonb), :correlation_id)""",
        org_id=org_id,
        actor_id=actor_id,
        action=f"{ENTITY_TYPE}.{action}",
        entity_type=ENTITY_TYPE,
        entity_id=entity_id,
        before=Json(before.model_dump(mode="json")) if before else None,
        after=Json(after.model_dump(mode="json")) if after else None,
        correlation_id=correlation_id,
    )


def _queue_backfill(tx: Transaction, definition: BadgeDefinition, reason: str) -> int:
    """Quietly re-evaluate the org's mentors when a definition they could earn appears or changes."""
    if not definition.live or isinstance(definition.criteria, ManualCriteria):
        return 0
    return enqueue(tx, definition.org_id, None, f"{reason}:{definition.key}", backfill=True)


def _locked(
    tx: Transaction, org_id: UUID, definition_id: UUID, expected_revision: int | None
) -> BadgeDefinition:
    """The current row, locked for this transaction; 404 when absent, 412 when the revision moved on."""
    row = tx.query_one(
        f"SELECT {_COLUMNS} FROM badge_definitions WHERE org_id = :org_id AND id = :id FOR UPDATE",
        org_id=org_id,
        id=definition_id,
    )
    if row is None:
        raise _not_found(definition_id)
    current = _definition(row)
    if expected_revision is not None and current.revision != expected_revision:
        raise PreconditionFailed(
            f"The badge definition changed since you loaded it (you have revision {expected_revision}, "
            f"it is now at {current.revision}). Reload it and apply your change again."
        )
    return current


def create_definition(
    db: Database,
    org_id: UUID,
    actor_id: UUID,
    request: BadgeDefinitionCreate,
    correlation_id: str | None = None,
) -> BadgeDefinition:
    with db.transaction() as tx, _constraint_errors(request.key):
        # Holding the org's version row serialises creates, so the size bound below is exact.
        tx.query("SELECT 1 FROM org_definition_versions WHERE org_id = :org_id FOR UPDATE", org_id=org_id)
        count = tx.query_one(
            "SELECT count(*) AS n FROM badge_definitions WHERE org_id = :org_id", org_id=org_id
        )
        if count and count["n"] >= MAX_DEFINITIONS_PER_ORG:
            raise Conflict(
                f"An organisation can have at most {MAX_DEFINITIONS_PER_ORG} badge definitions; "
                "delete unused ones or change an existing one."
            )
        row = tx.query_one(
            f"""INSERT INTO badge_definitions (org_id, key, name, description, icon, criteria, active,
                                               created_by, updated_by)
                VALUES (:org_id, :key, :name, :description, :icon, CAST(:criteria AS jsonb), :active,
                        :actor_id, :actor_id)
                ON CONFLICT (org_id, key) DO NOTHING
                RETURNING {_COLUMNS}""",
            org_id=org_id,
            actor_id=actor_id,
            **_column_values(request.model_dump(mode="json")),
        )
        if row is None:
            raise _key_taken(request.key)
        created = _definition(row)
        _audit(tx, org_id, actor_id, "created", created.id, None, created, correlation_id)
        _queue_backfill(tx, created, "definition_created")
    definitions_cache.invalidate(org_id)
    return created


_PATCHABLE = ("key", "name", "description", "icon", "criteria", "active")


def _column_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Request fields as column values: the table keeps '' for no description, criteria as JSON."""
    values = {name: fields[name] for name in _PATCHABLE if name in fields}
    if "description" in values and values["description"] is None:
        values["description"] = ""
    if "criteria" in values:
        criteria = values["criteria"]
        values["criteria"] = Json(
            criteria if isinstance(criteria, dict) else criteria.model_dump(mode="json")
        )
    return values


def _changed(current: BadgeDefinition, patch: BadgeDefinitionPatch) -> dict[str, Any]:
    """The sent fields whose value differs from the stored one."""
    stored = {**current.model_dump(include=set(_PATCHABLE)), "criteria": current.criteria}
    stored["description"] = stored["description"] or ""
    sent = patch.changes()
    if "description" in sent:
        sent["description"] = sent["description"] or ""
    return {name: value for name, value in sent.items() if stored.get(name) != value}


def update_definition(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    patch: BadgeDefinitionPatch,
    expected_revision: int | None = None,
    correlation_id: str | None = None,
) -> BadgeDefinition:
    """Write only the sent fields that differ; a PATCH that changes nothing keeps the revision."""
    with db.transaction() as tx, _constraint_errors(patch.key):
        current = _locked(tx, org_id, definition_id, expected_revision)
        changes = _changed(current, patch)
        if not changes:
            return current
        values = _column_values(changes)
        # Column names come from the fixed _PATCHABLE list, values are parameters.
        assignments = ", ".join(
            f"{name} = CAST(:{name} AS jsonb)" if name == "criteria" else f"{name} = :{name}"
            for name in values
        )
        row = tx.query_one(
            f"""UPDATE badge_definitions SET {assignments}, updated_by = :actor_id
                 WHERE org_id = :org_id AND id = :id AND revision = :revision
             RETURNING {_COLUMNS}""",
            org_id=org_id,
            id=definition_id,
            revision=current.revision,
            actor_id=actor_id,
            **values,
        )
        if row is None:  # unreachable while the row lock is held; kept as the atomic guard
            raise PreconditionFailed("The badge definition changed while saving; reload it and try again.")
        updated = _definition(row)
        _audit(tx, org_id, actor_id, "updated", definition_id, current, updated, correlation_id)
        if "criteria" in changes:
            _queue_backfill(tx, updated, "criteria_changed")
        elif changes.get("active") is True:
            _queue_backfill(tx, updated, "definition_activated")
    definitions_cache.invalidate(org_id)
    return updated


def _set_archived(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    archived: bool,
    expected_revision: int | None,
    correlation_id: str | None,
) -> BadgeDefinition:
    with db.transaction() as tx:
        current = _locked(tx, org_id, definition_id, expected_revision)
        if (current.archived_at is not None) == archived:
            return current  # already there: repeating the request changes nothing
        row = tx.query_one(
            f"""UPDATE badge_definitions
                   SET archived_at = CASE WHEN :archived THEN now() END, updated_by = :actor_id
                 WHERE org_id = :org_id AND id = :id
             RETURNING {_COLUMNS}""",
            archived=archived,
            actor_id=actor_id,
            org_id=org_id,
            id=definition_id,
        )
        assert row is not None  # the row is locked by _locked
        changed = _definition(row)
        _audit(
            tx,
            org_id,
            actor_id,
            "archived" if archived else "unarchived",
            definition_id,
            current,
            changed,
            correlation_id,
        )
        if not archived:
            _queue_backfill(tx, changed, "definition_unarchived")
    definitions_cache.invalidate(org_id)
    return changed


def archive_definition(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    expected_revision: int | None = None,
    correlation_id: str | None = None,
) -> BadgeDefinition:
    """Stop evaluating and listing a definition; its earned badges stay."""
    return _set_archived(db, org_id, definition_id, actor_id, True, expected_revision, correlation_id)


def unarchive_definition(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    expected_revision: int | None = None,
    correlation_id: str | None = None,
) -> BadgeDefinition:
    return _set_archived(db, org_id, definition_id, actor_id, False, expected_revision, correlation_id)


def delete_definition(
    db: Database,
    org_id: UUID,
    definition_id: UUID,
    actor_id: UUID,
    expected_revision: int | None = None,
    correlation_id: str | None = None,
) -> None:
    """Delete a definition nobody has earned; otherwise 409 pointing to archive."""
    with db.transaction() as tx:
        current = _locked(tx, org_id, definition_id, expected_revision)
        result = tx.query_one(
            "SELECT outcome, earned_count FROM safe_delete_badge_definition(:org_id, :id)",
            org_id=org_id,
            id=definition_id,
        )
        outcome = (result or {}).get("outcome")
        if outcome == "not_found":
            raise _not_found(definition_id)
        if outcome == "has_earned_badges":
            earned = (result or {}).get("earned_count")
            raise Conflict(
                f'"{current.name}" has been earned {earned} time(s), so it cannot be deleted. '
                f"Archive it instead (POST /orgs/{org_id}/badge-definitions/{definition_id}/archive): "
                "it stops being awarded and the earned badges stay."
            )
        _audit(tx, org_id, actor_id, "deleted", definition_id, current, None, correlation_id)
    definitions_cache.invalidate(org_id)


# --- preview -----------------------------------------------------------------------------

MAX_SAMPLE_SIZE = 50


class PreviewRequest(RequestBody):
    criteria: CriteriaField
    sample_size: Annotated[StrictInt, Field(ge=0, le=MAX_SAMPLE_SIZE)] = 10


class LevelPreview(Record):
    level: int
    target: int
    qualifying: int


class DefinitionPreview(PreviewResponse):
    """``qualifying`` of the ``evaluated`` peer mentors reach level 1 now; ``sample`` are some of them."""

    levels: tuple[LevelPreview, ...] = ()
    note: str | None = None


# Per mentor of the org, the number the criteria's targets are compared with. Each reads the
# stats snapshot except rolling windows (an index range scan on activities per active mentor,
# bounded by the window) and training (the indexed completions). Only activities dated up to the
# org's today count (the evaluator's rule): the snapshot counts future-dated rows too, so those are
# subtracted, looked up only for mentors whose snapshot says they have some.
_TYPE_FILTER = "(CAST(:activity_types AS text[]) IS NULL OR {column} = ANY(CAST(:activity_types AS text[])))"

_AHEAD = """
 CROSS JOIN LATERAL (
       SELECT count(*)::int AS n FROM activities AS a
        WHERE s.last_activity_date > org.today
          AND a.peer_mentor_id = s.peer_mentor_id AND a.activity_date > org.today AND a.activity_date <= {until}
          AND a.org_id = :org_id AND a.status = 'approved' AND a.deleted_at IS NULL
          AND {types}
       ) AS ahead
"""

_COUNT_ALL_TIME = (
    """
SELECT s.peer_mentor_id,
       CASE WHEN CAST(:activity_types AS text[]) IS NULL THEN s.total_count
            ELSE (SELECT coalesce(sum(t.value::int), 0) FROM jsonb_each_text(s.by_type) AS t
                  WHERE t.key = ANY(CAST(:activity_types AS text[])))
       END - ahead.n AS current
  FROM mentor_stats AS s JOIN mentors AS m USING (peer_mentor_id) CROSS JOIN org
"""
    + _AHEAD.format(until="'infinity'::date", types=_TYPE_FILTER.format(column="a.activity_type"))
    + """
 WHERE s.org_id = :org_id
"""
)

_COUNT_CALENDAR_YEAR = (
    """
SELECT s.peer_mentor_id, year_count.n - ahead.n AS current
  FROM mentor_stats AS s JOIN mentors AS m USING (peer_mentor_id) CROSS JOIN org
 CROSS JOIN LATERAL (
       SELECT coalesce(sum(y.n), 0)::int AS n FROM mentor_year_activity AS y
        WHERE y.org_id = :org_id AND y.peer_mentor_id = s.peer_mentor_id
          AND y.year = extract(year FROM org.today)::int AND {types}
       ) AS year_count
""".format(types=_TYPE_FILTER.format(column="y.activity_type"))
    + _AHEAD.format(
        until="make_date(extract(year FROM org.today)::int, 12, 31)",
        types=_TYPE_FILTER.format(column="a.activity_type"),
    )
    + """
 WHERE s.org_id = :org_id AND s.last_activity_date >= date_trunc('year', org.today)::date
"""
)

_COUNT_ROLLING_DAYS = """
SELECT s.peer_mentor_id, window_count.n AS current
  FROM mentor_stats AS s JOIN mentors AS m USING (peer_mentor_id) CROSS JOIN org
 CROSS JOIN LATERAL (
       SELECT count(*)::int AS n FROM activities AS a
        WHERE a.peer_mentor_id = s.peer_mentor_id
          AND a.activity_date BETWEEN org.today - (CAST(:days AS int) - 1) AND org.today
          AND a.org_id = :org_id AND a.status = 'approved' AND a.deleted_at IS NULL
          AND (CAST(:activity_types AS text[]) IS NULL OR a.activity_type = ANY(CAST(:activity_types AS text[])))
       ) AS window_count
 WHERE s.org_id = :org_id AND s.last_activity_date >= org.today - (CAST(:days AS int) - 1)
"""

# Longest run of consecutive ISO weeks (up to this one) with at least min_per_week activities.
_STREAK = """
SELECT runs.peer_mentor_id, max(runs.weeks)::int AS current
  FROM (SELECT islands.peer_mentor_id, count(*) AS weeks
          FROM (SELECT w.peer_mentor_id,
                       w.week_start - 7 * row_number() OVER (
                           PARTITION BY w.peer_mentor_id ORDER BY w.week_start)::int AS island
                  FROM (SELECT b.peer_mentor_id, b.week_start
                          FROM mentor_week_activity AS b
                          JOIN mentors AS m USING (peer_mentor_id) CROSS JOIN org
                         WHERE b.org_id = :org_id AND b.week_start <= date_trunc('week', org.today)::date
                           AND (CAST(:activity_types AS text[]) IS NULL
                                OR b.activity_type = ANY(CAST(:activity_types AS text[])))
                         GROUP BY b.peer_mentor_id, b.week_start
                        HAVING sum(b.n) >= :min_per_week) AS w) AS islands
         GROUP BY islands.peer_mentor_id, islands.island) AS runs
 GROUP BY runs.peer_mentor_id
"""

# Completions count from their local date; with only_valid, not once expired (as evaluation does).
_TRAINING = """
SELECT c.peer_mentor_id, count(DISTINCT c.training_code)::int AS current
  FROM training_completions AS c JOIN mentors AS m USING (peer_mentor_id) CROSS JOIN org
 WHERE c.org_id = :org_id AND c.training_code = ANY(CAST(:codes AS text[]))
   AND (c.completed_at AT TIME ZONE org.timezone)::date <= org.today
   AND (NOT :only_valid OR c.expires_at IS NULL OR (c.expires_at AT TIME ZONE org.timezone)::date > org.today)
 GROUP BY c.peer_mentor_id
"""

# The population: the same peer mentors a backfill queues (peer_badges.drain.enqueue).
_ORG_MENTORS = """
SELECT DISTINCT user_id AS peer_mentor_id FROM org_members WHERE org_id = :org_id AND role = 'peer_mentor'
"""

_PREVIEW = """
WITH org AS (
    SELECT timezone, (now() AT TIME ZONE timezone)::date AS today FROM organizations WHERE id = :org_id
), mentors AS ({mentors}), scores AS ({scores})
SELECT (SELECT count(*) FROM mentors)::int AS evaluated,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'level', t.level, 'target', t.target,
                    'qualifying', (SELECT count(*) FROM scores AS s WHERE s.current >= t.target))
                    ORDER BY t.level),
                '[]'::jsonb)
          FROM unnest(CAST(:targets AS int[])) WITH ORDINALITY AS t(target, level)) AS levels,
       (SELECT coalesce(array_agg(q.peer_mentor_id ORDER BY q.current DESC, q.peer_mentor_id), '{{}}')
          FROM (SELECT s.peer_mentor_id, s.current FROM scores AS s
                 WHERE s.current >= (CAST(:targets AS int[]))[1]
                 ORDER BY s.current DESC, s.peer_mentor_id LIMIT :sample_size) AS q) AS sample
"""


def _scores(criteria: Criteria) -> tuple[str, dict[str, Any]]:
    if isinstance(criteria, TrainingCompletionCriteria):
        return _TRAINING, {"codes": list(criteria.training_codes), "only_valid": criteria.only_valid}
    types = list(criteria.activity_filter) if criteria.activity_filter is not None else None
    if isinstance(criteria, StreakCriteria):
        return _STREAK, {"activity_types": types, "min_per_week": criteria.min_per_week}
    window = criteria.window
    if isinstance(window, RollingDays):
        return _COUNT_ROLLING_DAYS, {"activity_types": types, "days": window.days}
    if isinstance(window, CalendarYear):
        return _COUNT_CALENDAR_YEAR, {"activity_types": types}
    return _COUNT_ALL_TIME, {"activity_types": types}


def preview(db: Queryable, org_id: UUID, criteria: Criteria, sample_size: int = 10) -> DefinitionPreview:
    """How many of the org's peer mentors would qualify now, and a sample of them (one statement)."""
    if isinstance(criteria, ManualCriteria):
        row = db.query_one(f"SELECT count(*)::int AS n FROM ({_ORG_MENTORS}) AS m", org_id=org_id)
        return DefinitionPreview(
            qualifying=0,
            evaluated=int((row or {}).get("n") or 0),
            note="Manual badges are never awarded automatically: coordinators and admins award them.",
        )
    scores, params = _scores(criteria)
    row = db.query_one(
        _PREVIEW.format(mentors=_ORG_MENTORS, scores=scores),
        org_id=org_id,
        targets=[target for _, target in criteria.levels()],
        sample_size=sample_size,
        **params,
    )
    assert row is not None  # an aggregate-only SELECT always returns one row
    levels = tuple(LevelPreview.model_validate(item) for item in row["levels"])
    return DefinitionPreview(
        qualifying=levels[0].qualifying if levels else 0,
        evaluated=row["evaluated"],
        sample=tuple(row["sample"] or ()),
        levels=levels,
    )


def preview_draft(db: Queryable, org_id: UUID, body: object) -> DefinitionPreview:
    """``preview`` for a request body: a criteria document or ``{"criteria": ..., "sample_size": n}``."""
    if isinstance(body, dict) and "criteria" in body and "type" not in body:
        try:
            request = PreviewRequest.model_validate(body)
        except ValidationError as error:
            raise _unprocessable(_problems_from(error)) from error
        return preview(db, org_id, request.criteria, request.sample_size)
    problems = validate_criteria(body)
    if problems:
        raise _unprocessable(problems)
    return preview(db, org_id, parse_criteria(body))


def _unprocessable(problems: list[ErrorDetail]) -> Unprocessable:
    return Unprocessable(
        "The criteria are not valid; see details.", [problem.model_dump() for problem in problems]
    )
