"""An admin's payout action: the transition (``payouts.transition``), then, for a new approval or
payment, its event published right after the commit (if that fails the outbox drain sends it).

Apart from ``payouts`` so that the readers of payouts (stats, settings) do not load the publisher.
"""

from __future__ import annotations

from uuid import UUID

from peer_badges.db import Database
from peer_badges.events import publish_events
from peer_badges.models.payouts import HonorarPayout
from peer_badges.payouts import Action, transition


def transition_and_announce(
    db: Database,
    org_id: UUID,
    payout_id: UUID,
    action: Action,
    actor: UUID,
    *,
    reference: str | None = None,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> HonorarPayout:
    """`transition`, then (for a new approval or payment) its event published right after the commit;
    if that fails the outbox drain sends it."""
    outcome = transition(
        db,
        org_id,
        payout_id,
        action,
        actor,
        reference=reference,
        reason=reason,
        correlation_id=correlation_id,
    )
    if outcome.changed and action in ("approve", "pay"):
        publish_events(db, [outcome.payout.earned_badge_id])
    return outcome.payout
