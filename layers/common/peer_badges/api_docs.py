"""What the API explorer shows besides the schemas: the sections operations are grouped under, and
example request bodies, among them one valid criteria document per criteria type.

Each route names its section with `tags=[...]` and passes examples through `api.examples(...)`;
localdev/openapi.py lists the sections, with these descriptions, in this order. Plain data: the
examples are checked against the request models and the criteria validator by tests/unit/test_api_docs.py,
which also fails when a criteria type has no example (adding a type means adding one entry below).
"""

from __future__ import annotations

from typing import Any

# --- sections (OpenAPI tags), in the order the explorer shows them ------------------------------

STATISTICS = "Statistics"
EARNED_BADGES = "Earned badges"
BADGE_DEFINITIONS = "Badge definitions"
EVALUATIONS = "Evaluations"
PAYOUTS = "Payouts"
SETTINGS = "Settings"
STREAK_PAUSES = "Streak pauses"
OPEN_BADGES = "Open Badges"
PERSONAL_DATA = "Personal data"

TAGS: dict[str, str] = {
    STATISTICS: (
        "A peer mentor's counts, weekly streak, training and honorarium progress, milestone status per "
        "badge, and the coordinators' overview. Read from a snapshot kept current in the same transaction "
        "as each activity write; every response has an ETag (send it in If-None-Match for a 304)."
    ),
    EARNED_BADGES: (
        "The badges a mentor has earned: list them, award a manual badge (idempotent: a repeat answers 200 "
        "with the existing badge) and revoke one with a reason. Badges are never removed automatically."
    ),
    BADGE_DEFINITIONS: (
        "Each organisation's own badges: criteria documents of a closed set of types (threshold, streak, "
        "training completion, tier, milestone, manual, and all_of / any_of combinations and requires_badge "
        "prerequisites; counting types may count minutes), validated with every problem listed, previewed "
        "against the organisation's mentors, versioned by revision (ETag / If-Match) and archived rather "
        "than deleted once earned."
    ),
    EVALUATIONS: (
        "Re-evaluate named mentors or backfill the whole organisation (quietly: events carry "
        "backfill: true), or ask with dry_run what would be awarded. Everyday awards need no call: "
        "activity writes queue the mentor and the outbox drain evaluates within seconds."
    ),
    PAYOUTS: (
        "Honorarium payouts created by payable milestones: list and export them (CSV), and move each "
        "through pending, approved, paid or cancelled. Year-to-date sums are checked against the "
        "organisation's tax-free limit."
    ),
    SETTINGS: "The organisation's settings, such as the honorarium tax-free limit.",
    PERSONAL_DATA: (
        "A person's rights (GDPR articles 15 and 17): everything this bundle stores about them in one "
        "organisation as one JSON document, and erasure once they have left it (payment records stay, "
        "under a pseudonym, for bookkeeping). See docs/privacy.md."
    ),
    STREAK_PAUSES: (
        "Weeks that neither break nor extend a weekly streak: a summer break for the whole organisation, "
        "or one mentor's sick leave (at most 26 weeks each; overlapping pauses are fine). A paused week "
        "with enough activity still counts. Creating or deleting a pause re-evaluates the mentors it "
        "touches: it may award a streak badge, it never takes one back."
    ),
    OPEN_BADGES: (
        "Portable badges: an earned badge as a signed Open Badges 3.0 credential the mentor can show "
        "anywhere, and the public documents any verifier fetches without an account (the organisation's "
        "issuer profile with its keys, the achievement, and the revocation status list)."
    ),
}

# --- criteria: one valid document per type -------------------------------------------------------

# name -> (one line for the examples menu, the criteria document). Every criteria type needs at least
# one entry; a variant (e.g. another window) is one more entry.
CRITERIA_EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "threshold": (
        "threshold: ten assignments or visits in the calendar year",
        {
            "type": "threshold",
            "schema_version": 1,
            "threshold": 10,
            "activity_types": ["assignment", "visit"],
            "window": {"kind": "calendar_year"},
        },
    ),
    "threshold_rolling": (
        "threshold: twelve phone calls in the last 90 days",
        {
            "type": "threshold",
            "schema_version": 1,
            "threshold": 12,
            "activity_types": ["phone_call"],
            "window": {"kind": "rolling_days", "days": 90},
        },
    ),
    "streak": (
        "streak: at least one activity a week, four ISO weeks in a row",
        {"type": "streak", "schema_version": 1, "weeks": 4, "min_per_week": 1, "activity_types": None},
    ),
    "training_completion": (
        "training_completion: both courses completed and still valid",
        {
            "type": "training_completion",
            "schema_version": 1,
            "training_codes": ["basic-course", "first-aid"],
            "require": "all",
            "only_valid": True,
        },
    ),
    "tier": (
        "tier: bronze, silver and gold for 5, 25 and 100 activities",
        {
            "type": "tier",
            "schema_version": 1,
            "activity_types": None,
            "tiers": [
                {"name": "Bronze", "threshold": 5},
                {"name": "Silver", "threshold": 25},
                {"name": "Gold", "threshold": 100},
            ],
        },
    ),
    "milestone": (
        "milestone: a paid honorarium at the 3rd and the 15th assignment",
        {
            "type": "milestone",
            "schema_version": 1,
            "activity_types": ["assignment"],
            "thresholds": [3, 15],
            "payable": True,
            "amounts_nok": [2500, 8000],
        },
    ),
    "manual": (
        "manual: awarded by a coordinator or an admin, never automatically",
        {"type": "manual", "schema_version": 1},
    ),
    "requires_badge": (
        "requires_badge: holds the silver level (2) or higher of the badge keyed visits-tier",
        {"type": "requires_badge", "schema_version": 1, "badge_key": "visits-tier", "level": 2},
    ),
    "all_of": (
        "all_of: mentor of the year: the gold visits tier and a valid basic course",
        {
            "type": "all_of",
            "schema_version": 1,
            "criteria": [
                {"type": "requires_badge", "schema_version": 1, "badge_key": "visits-tier", "level": 3},
                {
                    "type": "training_completion",
                    "schema_version": 1,
                    "training_codes": ["basic-course"],
                    "only_valid": True,
                },
            ],
        },
    ),
    "any_of": (
        "any_of: a steady month: 4 weeks in a row, or 12 activities in the last 30 days",
        {
            "type": "any_of",
            "schema_version": 1,
            "criteria": [
                {"type": "streak", "schema_version": 1, "weeks": 4},
                {
                    "type": "threshold",
                    "schema_version": 1,
                    "threshold": 12,
                    "window": {"kind": "rolling_days", "days": 30},
                },
            ],
        },
    ),
}

# What an admin form might send with mistakes in it: the answer lists every problem at its path.
INVALID_CRITERIA: dict[str, Any] = {
    "type": "tier",
    "schema_version": 1,
    "activity_types": ["assignment"],
    "tiers": [{"name": "Bronze", "threshold": 25}, {"name": "Silver", "threshold": "5"}],
    "colour": "gold",
}

PLACEHOLDER_ID = "3f2b6c1e-8a4d-4e8f-9a51-2d7c0b9e1f00"

Examples = dict[str, tuple[str, Any]]


def _criteria_named(prefix: str = "") -> Examples:
    return {name: (prefix + summary, document) for name, (summary, document) in CRITERIA_EXAMPLES.items()}


def validate_examples() -> Examples:
    return {
        **_criteria_named(),
        "invalid": ("invalid: every problem is listed with its path", INVALID_CRITERIA),
        "draft": (
            "a whole draft: its other fields are checked too",
            {
                "key": "first-assignment",
                "name": "First assignment",
                "criteria": CRITERIA_EXAMPLES["threshold"][1],
            },
        ),
    }


def preview_examples() -> Examples:
    return {
        **_criteria_named(),
        "draft": (
            "a draft with a larger sample of qualifying mentors",
            {"name": "Busy year", "criteria": CRITERIA_EXAMPLES["threshold"][1], "sample_size": 25},
        ),
    }


def definition_examples() -> Examples:
    """A whole new definition per criteria example, its key derived from the example's name."""
    return {
        name: (
            summary,
            {
                "key": "example-" + name.replace("_", "-"),
                "name": summary.split(": ", 1)[-1].capitalize(),
                "description": "An example definition from the API explorer.",
                "criteria": document,
                "active": True,
            },
        )
        for name, (summary, document) in CRITERIA_EXAMPLES.items()
    }


PATCH_EXAMPLES: Examples = {
    "rename": ("rename: nothing is re-evaluated", {"name": "Active this year"}),
    "deactivate": ("deactivate: no new awards until it is active again", {"active": False}),
    "criteria": (
        "change the criteria: queues a backfill under the new revision",
        {"criteria": CRITERIA_EXAMPLES["streak"][1]},
    ),
}

AWARD_EXAMPLES: Examples = {
    "single": ("a single-level (e.g. manual) badge", {"badge_definition_id": PLACEHOLDER_ID}),
    "level": (
        "a given level, with a note for the audit log",
        {"badge_definition_id": PLACEHOLDER_ID, "level": 2, "note": "Led the spring group sessions."},
    ),
}

REVOKE_EXAMPLES: Examples = {
    "mistake": ("awarded by mistake", {"reason": "Awarded to the wrong mentor."}),
}

EVALUATION_EXAMPLES: Examples = {
    "dry_run": ("what would the whole organisation be awarded now (nothing stored)", {"dry_run": True}),
    "mentors": (
        "re-evaluate named mentors and award what they earned",
        {"mentor_ids": [PLACEHOLDER_ID], "dry_run": False},
    ),
    "backfill": ("backfill the whole organisation (awards are quiet)", {}),
}

PAID_EXAMPLES: Examples = {
    "reference": ("the bank or payroll reference", {"reference": "Payroll run 2026-04"}),
}

CANCEL_EXAMPLES: Examples = {
    "duplicate": ("a payout that should not be made", {"reason": "The assignment was registered twice."}),
}

SETTINGS_EXAMPLES: Examples = {
    "limit": ("the tax-free limit in NOK", {"honorar_tax_free_limit_nok": 10000}),
}

ERASURE_EXAMPLES: Examples = {
    "request": (
        "The person asked to be erased",
        {"reason": "The person asked to be erased (GDPR article 17)."},
    ),
}

PAUSE_EXAMPLES: Examples = {
    "summer": (
        "a summer break for the whole organisation (admins)",
        {"peer_mentor_id": None, "starts_on": "2026-06-29", "ends_on": "2026-07-26", "reason": "Sommerferie"},
    ),
    "sick_leave": (
        "one mentor's sick leave (admins, or a coordinator of that mentor)",
        {
            "peer_mentor_id": PLACEHOLDER_ID,
            "starts_on": "2026-03-02",
            "ends_on": "2026-04-12",
            "reason": "Sykemeldt",
        },
    ),
}
