"""Criteria in plain words (SPEC 8.7): every example document and every demo definition, in both
languages, against sentences a person reviewed; every criteria type has its sentence; plural forms and
minutes read the way a person writes them."""

from typing import Any

import pytest

from localdev.demo import ORGS
from peer_badges.api_docs import CRITERIA_EXAMPLES
from peer_badges.criteria.registry import KNOWN_TYPES, parse_criteria
from peer_badges.wording import SENTENCES, criteria_text, duration

# Reviewed: the example criteria documents of the API explorer (peer_badges.api_docs).
EXAMPLES: dict[str, tuple[str, str]] = {
    "threshold": (
        "Registrer 10 aktiviteter av typen «assignment» eller «visit» i løpet av kalenderåret.",
        "Register 10 activities of type “assignment” or “visit” in the calendar year.",
    ),
    "threshold_rolling": (
        "Registrer 12 aktiviteter av typen «phone_call» i løpet av de siste 90 dagene.",
        "Register 12 activities of type “phone_call” in the last 90 days.",
    ),
    "streak": (
        "Registrer minst 1 aktivitet hver uke i 4 uker på rad.",
        "Register at least 1 activity every week for 4 weeks in a row.",
    ),
    "training_completion": (
        "Fullfør kursene «basic-course» og «first-aid», og hold dem gyldige.",
        "Complete the trainings “basic-course” and “first-aid”, and keep them valid.",
    ),
    "tier": (
        "Registrer aktiviteter for å nå nivåene Bronze (5), Silver (25) og Gold (100).",
        "Register activities to reach the levels Bronze (5), Silver (25) and Gold (100).",
    ),
    "milestone": (
        "Nå milepælene ved 3 og 15 aktiviteter av typen «assignment»; hver milepæl gir honorar.",
        "Reach the milestones at 3 and 15 activities of type “assignment”; each milestone pays an honorarium.",
    ),
    "manual": (
        "Tildeles av en koordinator eller administrator, aldri automatisk.",
        "Awarded by a coordinator or an admin, never automatically.",
    ),
    "requires_badge": (
        "Ha merket «visits-tier» på nivå 2 eller høyere.",
        "Hold the badge “visits-tier” at level 2 or higher.",
    ),
    "all_of": (
        "Ha merket «visits-tier» på nivå 3 eller høyere, og fullfør kurset «basic-course» og hold det gyldig.",
        "Hold the badge “visits-tier” at level 3 or higher, and complete the training “basic-course” and keep it valid.",
    ),
    "any_of": (
        "Enten registrer minst 1 aktivitet hver uke i 4 uker på rad, eller registrer 12 aktiviteter i løpet av de siste 30 dagene.",
        "Either register at least 1 activity every week for 4 weeks in a row, or register 12 activities in the last 30 days.",
    ),
}

# Reviewed: the demo data set's definitions (localdev/demo.py), by (organisation, badge key).
DEMO: dict[tuple[str, str], tuple[str, str]] = {
    ("nhf", "forste-oppdrag"): (
        "Registrer 1 aktivitet av typen «assignment».",
        "Register 1 activity of type “assignment”.",
    ),
    ("nhf", "aktiv-i-ar"): (
        "Registrer 10 aktiviteter av typen «visit» eller «phone_call» i løpet av kalenderåret.",
        "Register 10 activities of type “visit” or “phone_call” in the calendar year.",
    ),
    ("nhf", "fire-uker-pa-rad"): (
        "Registrer minst 1 aktivitet hver uke i 4 uker på rad.",
        "Register at least 1 activity every week for 4 weeks in a row.",
    ),
    ("nhf", "kurset"): (
        "Fullfør kursene «nhf-grunnkurs» og «nhf-likepersonkurs», og hold dem gyldige.",
        "Complete the trainings “nhf-grunnkurs” and “nhf-likepersonkurs”, and keep them valid.",
    ),
    ("nhf", "innsats"): (
        "Registrer aktiviteter for å nå nivåene Bronse (5), Sølv (25) og Gull (100).",
        "Register activities to reach the levels Bronse (5), Sølv (25) and Gull (100).",
    ),
    ("nhf", "ildsjel"): (
        "Tildeles av en koordinator eller administrator, aldri automatisk.",
        "Awarded by a coordinator or an admin, never automatically.",
    ),
    ("blindeforbundet", "honorar"): (
        "Nå milepælene ved 3 og 15 aktiviteter av typen «assignment»; hver milepæl gir honorar.",
        "Reach the milestones at 3 and 15 activities of type “assignment”; each milestone pays an honorarium.",
    ),
    ("blindeforbundet", "ledsager"): (
        "Fullfør kursene «ledsagerkurs» og «forstehjelp», og hold dem gyldige.",
        "Complete the trainings “ledsagerkurs” and “forstehjelp”, and keep them valid.",
    ),
    ("blindeforbundet", "telefonvenn"): (
        "Registrer 12 aktiviteter av typen «phone_call» i løpet av de siste 90 dagene.",
        "Register 12 activities of type “phone_call” in the last 90 days.",
    ),
    ("blindeforbundet", "atte-uker"): (
        "Registrer minst 1 aktivitet hver uke i 8 uker på rad.",
        "Register at least 1 activity every week for 8 weeks in a row.",
    ),
    ("blindeforbundet", "oppdrag"): (
        "Registrer aktiviteter av typen «assignment» for å nå nivåene Bronse (10), Sølv (40) og Gull (120).",
        "Register activities of type “assignment” to reach the levels Bronse (10), Sølv (40) and Gull (120).",
    ),
    ("blindeforbundet", "arets-likeperson"): (
        "Tildeles av en koordinator eller administrator, aldri automatisk.",
        "Awarded by a coordinator or an admin, never automatically.",
    ),
    ("hlf", "likeperson"): (
        "Fullfør ett av kursene «hlf-likepersonkurs» eller «hlf-horselsteknikk».",
        "Complete one of the trainings “hlf-likepersonkurs” or “hlf-horselsteknikk”.",
    ),
    ("hlf", "gruppeleder"): (
        "Registrer 10 aktiviteter av typen «group_session».",
        "Register 10 activities of type “group_session”.",
    ),
    ("hlf", "stodig"): (
        "Registrer minst 2 aktiviteter hver uke i 6 uker på rad.",
        "Register at least 2 activities every week for 6 weeks in a row.",
    ),
    ("hlf", "aktivitet"): (
        "Registrer aktiviteter for å nå nivåene Bronse (10), Sølv (50) og Gull (150).",
        "Register activities to reach the levels Bronse (10), Sølv (50) and Gull (150).",
    ),
    ("hlf", "timer"): (
        "Registrer tid på aktiviteter for å nå nivåene Bronse (20 timer), Sølv (100 timer) og Gull (300 timer).",
        "Register time on activities to reach the levels Bronse (20 hours), Sølv (100 hours) and Gull (300 hours).",
    ),
    ("blindeforbundet", "forbilde"): (
        "Enten (ha merket «oppdrag» på nivå 3 eller høyere, og fullfør kurset «forstehjelp» og hold det "
        "gyldig), eller registrer minst 2 aktiviteter hver uke i 8 uker på rad.",
        "Either (hold the badge “oppdrag” at level 3 or higher, and complete the training “forstehjelp” and "
        "keep it valid), or register at least 2 activities every week for 8 weeks in a row.",
    ),
    ("hlf", "hederstegn"): (
        "Tildeles av en koordinator eller administrator, aldri automatisk.",
        "Awarded by a coordinator or an admin, never automatically.",
    ),
    ("hlf", "vinteraktiv"): (
        "Registrer 15 aktiviteter i løpet av de siste 120 dagene.",
        "Register 15 activities in the last 120 days.",
    ),
}


def test_every_criteria_type_has_its_sentence() -> None:
    # Given the closed set of criteria types
    # Then the wording module has one function for each (a new type fails here until it has one)
    assert set(KNOWN_TYPES) <= set(SENTENCES), sorted(set(KNOWN_TYPES) - set(SENTENCES))


def test_every_example_has_a_reviewed_expectation() -> None:
    assert set(EXAMPLES) == set(CRITERIA_EXAMPLES)
    assert set(DEMO) == {(org.slug, badge.key) for org in ORGS for badge in org.badges}


@pytest.mark.parametrize("name", sorted(CRITERIA_EXAMPLES))
def test_the_explorer_examples_read_as_reviewed(name: str) -> None:
    # Given an example criteria document
    text = criteria_text(parse_criteria(CRITERIA_EXAMPLES[name][1]))
    # Then both languages read as reviewed
    assert (text.nb, text.en) == EXAMPLES[name]


@pytest.mark.parametrize(("slug", "key"), sorted(DEMO), ids=[f"{slug}/{key}" for slug, key in sorted(DEMO)])
def test_the_demo_definitions_read_as_reviewed(slug: str, key: str) -> None:
    badge = next(badge for org in ORGS if org.slug == slug for badge in org.badges if badge.key == key)
    text = criteria_text(parse_criteria(badge.criteria))
    assert (text.nb, text.en) == DEMO[(slug, key)]


def _text(document: dict[str, Any], **extra: Any) -> tuple[str, str]:
    criteria = parse_criteria({"schema_version": 1, **document})
    if extra:  # fields a newer criteria model has (measure, SPEC 8.2), read with getattr by the wording
        criteria = criteria.model_copy(update=extra)
    text = criteria_text(criteria)
    return text.nb, text.en


def test_plural_forms_follow_the_number() -> None:
    assert _text({"type": "threshold", "threshold": 1}) == ("Registrer 1 aktivitet.", "Register 1 activity.")
    assert _text({"type": "threshold", "threshold": 2}) == (
        "Registrer 2 aktiviteter.",
        "Register 2 activities.",
    )
    assert _text({"type": "streak", "weeks": 1, "min_per_week": 3}) == (
        "Registrer minst 3 aktiviteter i løpet av 1 uke.",
        "Register at least 3 activities in 1 week.",
    )
    assert _text({"type": "streak", "weeks": 2, "min_per_week": 1, "activity_types": ["visit"]}) == (
        "Registrer minst 1 aktivitet av typen «visit» hver uke i 2 uker på rad.",
        "Register at least 1 activity of type “visit” every week for 2 weeks in a row.",
    )


@pytest.mark.parametrize(
    ("minutes", "nb", "en"),
    [
        (1, "1 minutt", "1 minute"),
        (45, "45 minutter", "45 minutes"),
        (60, "1 time", "1 hour"),
        (61, "1 time 1 minutt", "1 hour 1 minute"),
        (90, "1 time 30 minutter", "1 hour 30 minutes"),
        (1200, "20 timer", "20 hours"),
    ],
)
def test_minutes_are_spoken_as_hours_and_minutes(minutes: int, nb: str, en: str) -> None:
    assert (duration("nb", minutes), duration("en", minutes)) == (nb, en)


def test_minutes_measure_on_threshold_tier_and_milestone() -> None:
    assert _text(
        {"type": "threshold", "threshold": 1200, "window": {"kind": "calendar_year"}}, measure="minutes"
    ) == (
        "Registrer 20 timer med aktiviteter i løpet av kalenderåret.",
        "Register 20 hours of activities in the calendar year.",
    )
    tiers = [{"name": "Bronse", "threshold": 90}, {"name": "Gull", "threshold": 600}]
    assert _text({"type": "tier", "tiers": tiers, "activity_types": ["visit"]}, measure="minutes") == (
        "Registrer tid på aktiviteter av typen «visit» for å nå nivåene Bronse (1 time 30 minutter) og Gull "
        "(10 timer).",
        "Register time on activities of type “visit” to reach the levels Bronse (1 hour 30 minutes) and Gull "
        "(10 hours).",
    )
    assert _text({"type": "milestone", "thresholds": [600, 1200], "payable": False}, measure="minutes") == (
        "Nå milepælene ved 10 timer og 20 timer med aktiviteter.",
        "Reach the milestones at 10 hours and 20 hours of activities.",
    )
    # Counting is the default, and what a document without the field means
    assert _text({"type": "threshold", "threshold": 20}, measure="count") == _text(
        {"type": "threshold", "threshold": 20}
    )


def test_single_entries_and_windows() -> None:
    assert _text({"type": "threshold", "threshold": 3, "window": {"kind": "rolling_days", "days": 1}}) == (
        "Registrer 3 aktiviteter i dag.",
        "Register 3 activities today.",
    )
    assert _text({"type": "tier", "tiers": [{"name": "Gull", "threshold": 5}]}) == (
        "Registrer aktiviteter for å nå nivået Gull (5).",
        "Register activities to reach the level Gull (5).",
    )
    assert _text({"type": "milestone", "thresholds": [3], "payable": True}) == (
        "Nå milepælen ved 3 aktiviteter; milepælen gir honorar.",
        "Reach the milestone at 3 activities; the milestone pays an honorarium.",
    )
    assert _text({"type": "requires_badge", "badge_key": "first"}) == (
        "Ha merket «first».",
        "Hold the badge “first”.",
    )
    assert _text({"type": "training_completion", "training_codes": ["a", "b"], "require": "any"}) == (
        "Fullfør ett av kursene «a» eller «b».",
        "Complete one of the trainings “a” or “b”.",
    )


def test_nested_combinations_keep_their_members_together() -> None:
    inner = {
        "type": "all_of",
        "schema_version": 1,
        "criteria": [
            {"type": "threshold", "schema_version": 1, "threshold": 5},
            {"type": "requires_badge", "schema_version": 1, "badge_key": "first"},
        ],
    }
    document = {"type": "any_of", "criteria": [inner, {"type": "streak", "schema_version": 1, "weeks": 3}]}
    assert _text(document) == (
        "Enten (registrer 5 aktiviteter, og ha merket «first»), eller registrer minst 1 aktivitet hver uke i "
        "3 uker på rad.",
        "Either (register 5 activities, and hold the badge “first”), or register at least 1 activity every "
        "week for 3 weeks in a row.",
    )
