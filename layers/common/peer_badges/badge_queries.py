"""A badge is a query: each criteria type's set-based "who meets which level, and since when"
(``CriteriaBase.crossings``, a SQL function per family in sql/008_criteria_queries.sql), wrapped the
three ways the bundle asks it, as Discourse's badge granter does:

- ``missing``: the levels met but never awarded (reconcile and definition backfills award them);
- ``preview``: how many of the org's peer mentors meet each level now, and a sample of them;
- ``qualifying``: every level met (tests compare it with the per-mentor path).

The call text comes from the type module (fixed SQL, never user input); values are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from peer_badges.criteria.registry import Criteria
from peer_badges.db import Queryable


@dataclass(frozen=True)
class Crossing:
    peer_mentor_id: UUID
    level: int
    earned_at: date


_QUALIFYING_SQL = "SELECT c.peer_mentor_id, c.level, c.earned_at FROM {call} AS c ORDER BY 1, 2"

# Met, never awarded (revoked awards count as awarded: no level is awarded twice), by a current peer
# mentor of the org (someone who left earns nothing new there; SPEC 8.5). A mentor with a pending
# write-caused evaluation queued since the definition's backfill started is left to the drain, which
# awards it live (SPEC 8.1: an award caused by a write is never silenced as a backfill).
_MISSING_SQL = """
SELECT c.peer_mentor_id, c.level, c.earned_at
  FROM {call} AS c
 WHERE EXISTS (SELECT 1 FROM org_members AS m
                WHERE m.org_id = :org_id AND m.user_id = c.peer_mentor_id AND m.role = 'peer_mentor')
   AND NOT EXISTS (SELECT 1 FROM earned_badges AS e
                    WHERE e.peer_mentor_id = c.peer_mentor_id AND e.badge_definition_id = :definition_id
                      AND e.level = c.level)
   AND NOT EXISTS (SELECT 1 FROM live_evaluations AS o
                    WHERE o.peer_mentor_id = c.peer_mentor_id AND o.org_id = :org_id
                      AND o.last_queued_at >= (SELECT d.backfill_from FROM badge_definitions AS d
                                            WHERE d.id = :definition_id))
 ORDER BY 1, 2
"""

# Over the org's peer mentors (the population a backfill considers): per level how many meet it, and a
# sample of those who meet level 1, highest level and earliest first.
_PREVIEW_SQL = """
WITH mentors AS (
    SELECT DISTINCT om.user_id AS peer_mentor_id FROM org_members AS om
     WHERE om.org_id = :org_id AND om.role = 'peer_mentor'
), met AS (
    SELECT c.peer_mentor_id, c.level, c.earned_at FROM {call} AS c JOIN mentors USING (peer_mentor_id)
), best AS (
    SELECT m.peer_mentor_id, max(m.level) AS level, min(m.earned_at) AS first_met FROM met AS m GROUP BY 1
)
SELECT (SELECT count(*) FROM mentors)::int AS evaluated,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'level', t.level, 'target', t.target,
                   'qualifying', (SELECT count(*) FROM met WHERE met.level = t.level)) ORDER BY t.level),
                '[]'::jsonb)
          FROM unnest(CAST(:level_targets AS int[])) WITH ORDINALITY AS t(target, level)) AS levels,
       (SELECT coalesce(array_agg(b.peer_mentor_id ORDER BY b.level DESC, b.first_met, b.peer_mentor_id),
                        '{{}}')
          FROM (SELECT * FROM best ORDER BY level DESC, first_met, peer_mentor_id LIMIT :sample_size) AS b
       ) AS sample
"""


def _statement(
    template: str, org_id: UUID, criteria: Criteria, today: date, mentor_ids: list[UUID] | None
) -> tuple[str, dict[str, Any]]:
    """The template around the criteria's crossing call, and its parameters (the call built once)."""
    crossings = criteria.crossings(today)
    params = {"org_id": org_id, "mentors": mentor_ids, "today": today, **crossings.params}
    return template.format(call=crossings.call), params


def qualifying(
    db: Queryable, org_id: UUID, criteria: Criteria, today: date, mentor_ids: list[UUID] | None = None
) -> list[Crossing]:
    """Every (mentor, level) the criteria meet as of ``today``, with ``earned_at``."""
    sql, params = _statement(_QUALIFYING_SQL, org_id, criteria, today, mentor_ids)
    rows = db.query(sql, **params)
    return [Crossing(row["peer_mentor_id"], int(row["level"]), row["earned_at"]) for row in rows]


def missing(
    db: Queryable,
    org_id: UUID,
    definition_id: UUID,
    criteria: Criteria,
    today: date,
    mentor_ids: list[UUID] | None = None,
) -> list[Crossing]:
    """The levels of a definition met as of ``today`` and never awarded, in (mentor, level) order."""
    sql, params = _statement(_MISSING_SQL, org_id, criteria, today, mentor_ids)
    rows = db.query(sql, definition_id=definition_id, **params)
    return [Crossing(row["peer_mentor_id"], int(row["level"]), row["earned_at"]) for row in rows]


def preview_counts(
    db: Queryable, org_id: UUID, criteria: Criteria, today: date, sample_size: int
) -> dict[str, Any]:
    """``{evaluated, levels: [{level, target, qualifying}], sample: [mentor ids]}`` in one statement."""
    sql, params = _statement(_PREVIEW_SQL, org_id, criteria, today, None)
    row = db.query_one(
        sql, level_targets=[target for _, target in criteria.levels()], sample_size=sample_size, **params
    )
    assert row is not None  # an aggregate-only SELECT always returns one row
    return row
