"""Honorarium payouts (SPEC 8.4): list, export, approve / pay / cancel, the org's tax-free limit.

Payouts are created by the award itself (sql/010_payouts.sql's award_earned_badge), so there is no
create here. A transition is one call of `transition_honorar_payout`, which takes a transaction
advisory lock on (org, mentor, income year) before the row lock: concurrent approvals of one
mentor's payouts queue, and each answers with a `year_to_date_nok` that includes every approval
committed before it. It writes the audit row and, for approve and paid, the event-outbox row in the
same transaction. Revoking a badge cancels its payout through a trigger on earned_badges.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from uuid import UUID

from peer_badges.auth import Access
from peer_badges.db import Database, Transaction
from peer_badges.errors import BadRequest, Conflict, NotFound, Unprocessable
from peer_badges.models import Page, PayoutStatus
from peer_badges.models.payouts import HonorarPayout, OrgSettings, OrgSettingsPatch

Action = Literal["approve", "pay", "cancel"]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# One export must fit a Lambda response (6 MB); a row is about 400 bytes. Narrow by year or status.
MAX_EXPORT_ROWS = 12_000
REVOKED_REASON = "badge revoked"  # written by sql/010_payouts.sql's revoke trigger

# The CSV's columns, in this order for good: spreadsheets and finance imports refer to them.
EXPORT_COLUMNS = (
    "id",
    "org_id",
    "peer_mentor_id",
    "earned_badge_id",
    "badge_definition_id",
    "level",
    "threshold",
    "amount_nok",
    "earned_at",
    "income_year",
    "status",
    "backfill",
    "created_at",
    "approved_by",
    "approved_at",
    "paid_by",
    "paid_at",
    "paid_reference",
    "cancelled_by",
    "cancelled_at",
    "cancel_reason",
    "year_to_date_nok",
    "exceeds_tax_free_limit",
)

_FILTERS = """
   p.org_id = :org_id
   AND (CAST(:status AS text) IS NULL OR p.status = CAST(:status AS text))
   AND (CAST(:year AS int) IS NULL OR p.income_year = CAST(:year AS int))
"""

# The payout as the API shows it (sql/010's honorar_payout_json, which transitions answer with), as
# JSON: the driver parses JSON far faster than it converts timestamp columns. The year-to-date sum
# is a lateral index probe, run only for the rows a LIMIT lets through.
_PAYOUT_JSON = """
SELECT to_jsonb(p) || jsonb_build_object('year_to_date_nok', y.nok, 'exceeds_tax_free_limit', y.nok > t.nok)
           AS payout
  FROM honorar_payouts AS p
 CROSS JOIN LATERAL (
        SELECT COALESCE(sum(o.amount_nok), 0) AS nok FROM honorar_payouts AS o
         WHERE o.org_id = p.org_id AND o.peer_mentor_id = p.peer_mentor_id
           AND o.income_year = p.income_year AND o.status IN ('approved', 'paid')) AS y
 CROSS JOIN (SELECT honorar_tax_free_limit_nok(:org_id) AS nok) AS t
"""

# Admins see everything; anyone else their own payouts and, as a coordinator, their mentors'.
_LIST_SQL = f"""
{_PAYOUT_JSON}
 WHERE {_FILTERS}
   AND (CAST(:mentor_id AS uuid) IS NULL OR p.peer_mentor_id = CAST(:mentor_id AS uuid))
   AND (CAST(:see_all AS boolean)
        OR p.peer_mentor_id = CAST(:caller AS uuid)
        OR (CAST(:coordinator AS boolean) AND EXISTS (
               SELECT 1 FROM coordinator_assignments AS ca
                WHERE ca.org_id = p.org_id AND ca.coordinator_id = CAST(:caller AS uuid)
                  AND ca.peer_mentor_id = p.peer_mentor_id)))
   AND (CAST(:after_earned_at AS date) IS NULL
        OR (p.earned_at, p.id) < (CAST(:after_earned_at AS date), CAST(:after_id AS uuid)))
 ORDER BY p.earned_at DESC, p.id DESC
 LIMIT :fetch
"""

# Oldest first, as a ledger reads.
_EXPORT_SQL = f"""
{_PAYOUT_JSON}
 WHERE {_FILTERS}
 ORDER BY p.earned_at, p.id
 LIMIT :fetch
"""

_TRANSITION_SQL = (
    "SELECT outcome, payout FROM transition_honorar_payout("
    ":org_id, :payout_id, :action, :actor, :reference, :reason, :correlation_id)"
)

_SETTINGS_SQL = "SELECT honorar_tax_free_limit_nok(:org_id) AS honorar_tax_free_limit_nok"

_UPDATE_SETTINGS_SQL = """
WITH before AS (
    SELECT jsonb_build_object('honorar_tax_free_limit_nok', honorar_tax_free_limit_nok(:org_id)) AS settings
), saved AS (
    INSERT INTO org_settings AS s (org_id, honorar_tax_free_limit_nok, updated_by)
    VALUES (:org_id, :limit_nok, :actor)
    ON CONFLICT (org_id) DO UPDATE
       SET honorar_tax_free_limit_nok = EXCLUDED.honorar_tax_free_limit_nok, updated_at = now(),
           updated_by = EXCLUDED.updated_by
    RETURNING s.honorar_tax_free_limit_nok
), audited AS (
    INSERT INTO audit_log (org_id, actor_id, actor_kind, action, entity_type, entity_id, before, after,
                           correlation_id)
    SELECT :org_id, :actor, 'user', 'settings.changed', 'org_settings', :org_id, b.settings,
           jsonb_build_object('honorar_tax_free_limit_nok', s.honorar_tax_free_limit_nok), :correlation_id
      FROM saved AS s, before AS b
)
SELECT honorar_tax_free_limit_nok FROM saved
"""


@dataclass(frozen=True)
class PayoutFilter:
    status: PayoutStatus | None = None
    year: int | None = None

    def params(self) -> dict[str, Any]:
        return {"status": self.status, "year": self.year}


@dataclass(frozen=True)
class TransitionOutcome:
    payout: HonorarPayout
    changed: bool  # False: it already was in the target state; nothing was written


# --- reading -----------------------------------------------------------------------------


def list_payouts(
    db: Database,
    access: Access,
    filters: PayoutFilter,
    *,
    mentor_id: UUID | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> Page[HonorarPayout]:
    """The payouts `access` may see (authorised by auth.require_payout_reader), newest first."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}.")
    after_earned_at, after_id = _decode_cursor(cursor) if cursor else (None, None)
    rows = db.query(
        _LIST_SQL,
        org_id=access.org_id,
        **filters.params(),
        mentor_id=mentor_id,
        see_all=access.is_admin,
        caller=access.user_id,
        coordinator=access.is_coordinator,
        after_earned_at=after_earned_at,
        after_id=after_id,
        fetch=limit + 1,
    )
    items = tuple(HonorarPayout.model_validate(row["payout"]) for row in rows[:limit])
    next_cursor = _encode_cursor(items[-1]) if len(rows) > limit else None
    return Page[HonorarPayout](items=items, next_cursor=next_cursor)


def export_csv(db: Database, org_id: UUID, filters: PayoutFilter) -> str:
    """Every matching payout of the org as CSV (a header row, then one row per payout, oldest first)."""
    rows = db.query(_EXPORT_SQL, org_id=org_id, **filters.params(), fetch=MAX_EXPORT_ROWS + 1)
    if len(rows) > MAX_EXPORT_ROWS:
        raise Unprocessable(
            f"More than {MAX_EXPORT_ROWS} payouts match; export one year (year=) or one status at a time."
        )
    return render_csv([row["payout"] for row in rows])


def render_csv(payouts: list[dict[str, Any]]) -> str:
    """RFC 4180 CSV (the csv module's quoting, CRLF line ends) with a UTF-8 byte-order mark, so
    spreadsheet programs read the text as UTF-8. Text a spreadsheet would run as a formula is
    prefixed with an apostrophe."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for payout in payouts:
        writer.writerow([_cell(payout[column]) for column in EXPORT_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str | int:
    """A JSON value as a cell: dates and timestamps arrive as ISO 8601 text already."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    text = str(value)
    # Free text (references, reasons) starting like a formula would be evaluated by a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- transitions -------------------------------------------------------------------------


def transition(
    db: Database,
    org_id: UUID,
    payout_id: UUID,
    action: Action,
    actor: UUID,
    *,
    reference: str | None = None,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> TransitionOutcome:
    """Approve, pay or cancel one payout; the same transition again returns the row unchanged."""
    with db.transaction() as tx:
        return transition_in(
            tx,
            org_id,
            payout_id,
            action,
            actor,
            reference=reference,
            reason=reason,
            correlation_id=correlation_id,
        )


def transition_in(
    tx: Transaction,
    org_id: UUID,
    payout_id: UUID,
    action: Action,
    actor: UUID,
    *,
    reference: str | None = None,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> TransitionOutcome:
    """`transition` inside the caller's transaction (READ COMMITTED: the lock needs fresh snapshots)."""
    if action == "pay" and not (reference and reference.strip()):
        raise Unprocessable(
            "A payment reference is required to mark a payout paid.",
            [{"path": "reference", "code": "required", "message": "Give the bank or ledger reference."}],
        )
    if action == "cancel" and not (reason and reason.strip()):
        raise Unprocessable(
            "A reason is required to cancel a payout.",
            [{"path": "reason", "code": "required", "message": "Say why the payout is cancelled."}],
        )
    row = tx.query_one(
        _TRANSITION_SQL,
        org_id=org_id,
        payout_id=payout_id,
        action=action,
        actor=actor,
        reference=reference.strip() if reference else None,
        reason=reason.strip() if reason else None,
        correlation_id=correlation_id,
    )
    assert row is not None
    if row["outcome"] == "not_found":
        raise NotFound(f"There is no payout {payout_id} in this organisation.")
    payout = HonorarPayout.model_validate(row["payout"])
    if row["outcome"] == "conflict":
        raise Conflict(_refusal(action, payout))
    return TransitionOutcome(payout=payout, changed=row["outcome"] == "changed")


def _refusal(action: Action, payout: HonorarPayout) -> str:
    if action == "pay" and payout.status == "paid":
        # References are free text (they may name the person): the message, which is logged, quotes neither.
        return "This payout was already paid under another reference; the first payment stands."
    allowed = {"approve": "pending", "pay": "approved", "cancel": "pending or approved"}[action]
    verb = {"approve": "approved", "pay": "marked paid", "cancel": "cancelled"}[action]
    return f"This payout is {payout.status}; only a {allowed} payout can be {verb}."


# --- settings ----------------------------------------------------------------------------


def load_settings(db: Database, org_id: UUID) -> OrgSettings:
    row = db.query_one(_SETTINGS_SQL, org_id=org_id)
    return OrgSettings.model_validate(row)


def update_settings(
    db: Database, org_id: UUID, actor: UUID, patch: OrgSettingsPatch, *, correlation_id: str | None = None
) -> OrgSettings:
    """Save the org's settings with an audit row (before and after) in one statement."""
    row = db.query_one(
        _UPDATE_SETTINGS_SQL,
        org_id=org_id,
        limit_nok=patch.honorar_tax_free_limit_nok,
        actor=actor,
        correlation_id=correlation_id,
    )
    return OrgSettings.model_validate(row)


# --- cursors -----------------------------------------------------------------------------

_BAD_CURSOR = "The cursor is not valid; use next_cursor from the previous page as it is."


def _encode_cursor(payout: HonorarPayout) -> str:
    raw = json.dumps([payout.earned_at.isoformat(), str(payout.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[date, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        earned_at, payout_id = json.loads(raw)
        return date.fromisoformat(earned_at), UUID(payout_id)
    except (binascii.Error, ValueError, TypeError) as error:
        raise BadRequest(_BAD_CURSOR) from error
