"""The per-container cache of each organisation's badge definitions, read by stats and evaluation.

A read inside the TTL costs one primary-key lookup of the org's definitions version (bumped by a
trigger in ``sql/004_definitions.sql`` on every change from any client); the list is reloaded when
the version moved or the TTL ran out. Mutations in this container invalidate their org at once.

The rows are parsed on first use, in one of two forms: every definition (``BadgeDefinition``, for
evaluation and progress), or only the milestone ones (``MilestoneDefinition``, all that stats read for
the honorarium, without building the validator of every other criteria type).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from peer_badges.criteria.milestone import MilestoneCriteria
from peer_badges.db import Queryable, Row
from peer_badges.models import DefinitionRecord, MilestoneDefinition
from peer_badges.settings import get_settings

if TYPE_CHECKING:
    from peer_badges.models.definitions import BadgeDefinition

logger = Logger(service="peer-badges", child=True)

COLUMNS = ", ".join(
    (
        "id",
        "org_id",
        "key",
        "name",
        "description",
        "icon",
        "icon_alt",
        "criteria",
        "active",
        "revision",
        "archived_at",
        "created_at",
        "updated_at",
    )
)


# --- rows -> models ----------------------------------------------------------------------


D = TypeVar("D", bound=DefinitionRecord)


def definition_from_row(row: Mapping[str, Any]) -> BadgeDefinition:
    # Imported on first use: its module loads every criteria type, and the stats read (milestones only,
    # _milestone_from_row) does without them.
    from peer_badges.models.definitions import BadgeDefinition

    return BadgeDefinition.model_validate(dict(row))


def _milestone_from_row(row: Mapping[str, Any]) -> MilestoneDefinition:
    return MilestoneDefinition.model_validate(dict(row))


def definitions_from_rows(rows: Sequence[Row]) -> list[BadgeDefinition]:
    """Rows as models; a row whose stored criteria no longer parse is skipped, loudly.

    Such a row can only come from a client writing the table directly; one bad definition must not
    stop an org's stats and evaluation.
    """
    return _parsed(rows, definition_from_row)


def _parsed(rows: Sequence[Row], parse: Callable[[Row], D]) -> list[D]:
    definitions = []
    for row in rows:
        try:
            definitions.append(parse(row))
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


# --- the cache ---------------------------------------------------------------------------

_VERSION_SQL = "SELECT version FROM org_definition_versions WHERE org_id = :org_id"
# For reads that fold the version check into their own statement.
# (mentor_stats_for_caller, sql/021, reads it the same way for GET …/stats.)
VERSION_COLUMN = "COALESCE((SELECT version FROM org_definition_versions WHERE org_id = :org_id), 0)"

# One statement, so the version and the list come from the same snapshot.
_LOAD_SQL = f"""
SELECT v.version, {", ".join("d." + column.strip() for column in COLUMNS.split(","))}
  FROM (SELECT {VERSION_COLUMN} AS version) AS v
  LEFT JOIN badge_definitions AS d ON d.org_id = :org_id AND d.archived_at IS NULL
 ORDER BY d.key
"""


def _is_milestone(row: Row) -> bool:
    criteria = row["criteria"]
    return isinstance(criteria, Mapping) and criteria.get("type") == MilestoneCriteria.type_name()


@dataclass(frozen=True)
class _Entry:
    version: int
    rows: tuple[Row, ...]
    loaded_at: float

    @cached_property
    def definitions(self) -> tuple[BadgeDefinition, ...]:
        return tuple(definitions_from_rows(self.rows))

    @cached_property
    def milestones(self) -> tuple[MilestoneDefinition, ...]:
        return tuple(_parsed([row for row in self.rows if _is_milestone(row)], _milestone_from_row))


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
        return list(self._entry(db, org_id, current_version).definitions)

    def milestones(
        self, db: Queryable, org_id: UUID, current_version: int | None = None
    ) -> list[MilestoneDefinition]:
        """The milestone definitions among ``get``'s, parsed as ``MilestoneDefinition``."""
        return list(self._entry(db, org_id, current_version).milestones)

    def _entry(self, db: Queryable, org_id: UUID, current_version: int | None) -> _Entry:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(org_id)
        if entry is not None and now - entry.loaded_at <= self.ttl:
            if current_version is None:
                row = db.query_one(_VERSION_SQL, org_id=org_id)
                current_version = int((row or {}).get("version") or 0)
            if current_version == entry.version:
                return entry
        return self._load(db, org_id, now)

    def _load(self, db: Queryable, org_id: UUID, now: float) -> _Entry:
        rows = db.query(_LOAD_SQL, org_id=org_id)
        version = int(rows[0]["version"]) if rows else 0
        entry = _Entry(version, tuple(row for row in rows if row["id"] is not None), now)
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


def cached_milestone_definitions(
    db: Queryable, org_id: UUID, current_version: int | None = None
) -> list[MilestoneDefinition]:
    """The milestone ones among ``cached_org_definitions``: enough for the honorarium (stats)."""
    return definitions_cache.milestones(db, org_id, current_version)
