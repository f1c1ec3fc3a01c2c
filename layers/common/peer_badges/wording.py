"""Criteria in plain words: one or two sentences a screen reader can speak, in Norwegian bokmål and
English (SPEC 8.7). This module owns every word of it.

``criteria_text(criteria)`` dispatches on the criteria's ``type`` to one function per type in
``SENTENCES``; a type without one is refused by ``tests/unit/test_wording.py`` (it walks
``peer_badges.criteria.registry.KNOWN_TYPES``). Each function returns a *clause* per language
("registrer 10 aktiviteter"), so that ``all_of`` / ``any_of`` can join their members' clauses into one
sentence; ``criteria_text`` makes the clause a sentence (a ``peer_badges.models.CriteriaText``).
Numbers are written as digits (a screen reader speaks them), plural forms follow the number, minutes
are spoken as hours and minutes, and an organisation's activity types, training codes, tier names and
badge keys are shown exactly as stored, in quotes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from peer_badges.criteria.base import CalendarYear, CriteriaBase, RollingDays
from peer_badges.criteria.combination import AllOfCriteria, AnyOfCriteria
from peer_badges.criteria.milestone import MilestoneCriteria
from peer_badges.criteria.prerequisite import RequiresBadgeCriteria
from peer_badges.criteria.streak import StreakCriteria
from peer_badges.criteria.threshold import ThresholdCriteria
from peer_badges.criteria.tier import TierCriteria
from peer_badges.criteria.training import TrainingCompletionCriteria
from peer_badges.language import Lang
from peer_badges.models import CriteriaText

LANGUAGES: tuple[Lang, ...] = ("nb", "en")
Clauses = dict[Lang, str]

# The message catalogue: every word of the sentences, per language. Nouns are (singular, plural).
_WORDS: dict[Lang, dict[str, Any]] = {
    "nb": {
        "activity": ("aktivitet", "aktiviteter"),
        "week": ("uke", "uker"),
        "day": ("dag", "dager"),
        "hour": ("time", "timer"),
        "minute": ("minutt", "minutter"),
        "and": "og",
        "or": "eller",
        "of_type": "av typen {types}",
        "quote": "«{}»",
        "register": "registrer {amount}",
        "time_of": "{duration} med {activities}",
        "calendar_year": "i løpet av kalenderåret",
        "today": "i dag",
        "rolling": "i løpet av de siste {days} dagene",
        "streak": "registrer minst {amount} hver uke i {weeks} på rad",
        "streak_one_week": "registrer minst {amount} i løpet av 1 uke",
        "training_one": "fullfør kurset {codes}",
        "training_all": "fullfør kursene {codes}",
        "training_any": "fullfør ett av kursene {codes}",
        "keep_valid_one": "og hold det gyldig",
        "keep_valid_many": "og hold dem gyldige",
        "tier": "registrer {what} for å nå nivåene {tiers}",
        "tier_one": "registrer {what} for å nå nivået {tiers}",
        "tier_item": "{name} ({amount})",
        "log_time": "tid på {activities}",
        "milestone": "nå milepælene ved {amounts}",
        "milestone_one": "nå milepælen ved {amounts}",
        "payable": "hver milepæl gir honorar",
        "payable_one": "milepælen gir honorar",
        "manual": "tildeles av en koordinator eller administrator, aldri automatisk",
        "requires_badge": "ha merket {key}",
        "requires_badge_level": "ha merket {key} på nivå {level} eller høyere",
        "all_of": "{members}",
        "any_of": "enten {members}",
    },
    "en": {
        "activity": ("activity", "activities"),
        "week": ("week", "weeks"),
        "day": ("day", "days"),
        "hour": ("hour", "hours"),
        "minute": ("minute", "minutes"),
        "and": "and",
        "or": "or",
        "of_type": "of type {types}",
        "quote": "“{}”",
        "register": "register {amount}",
        "time_of": "{duration} of {activities}",
        "calendar_year": "in the calendar year",
        "today": "today",
        "rolling": "in the last {days} days",
        "streak": "register at least {amount} every week for {weeks} in a row",
        "streak_one_week": "register at least {amount} in 1 week",
        "training_one": "complete the training {codes}",
        "training_all": "complete the trainings {codes}",
        "training_any": "complete one of the trainings {codes}",
        "keep_valid_one": "and keep it valid",
        "keep_valid_many": "and keep them valid",
        "tier": "register {what} to reach the levels {tiers}",
        "tier_one": "register {what} to reach the level {tiers}",
        "tier_item": "{name} ({amount})",
        "log_time": "time on {activities}",
        "milestone": "reach the milestones at {amounts}",
        "milestone_one": "reach the milestone at {amounts}",
        "payable": "each milestone pays an honorarium",
        "payable_one": "the milestone pays an honorarium",
        "manual": "awarded by a coordinator or an admin, never automatically",
        "requires_badge": "hold the badge {key}",
        "requires_badge_level": "hold the badge {key} at level {level} or higher",
        "all_of": "{members}",
        "any_of": "either {members}",
    },
}


# --- the pieces every type uses ----------------------------------------------------------


def _word(lang: Lang, name: str) -> Any:
    return _WORDS[lang][name]


def counted(lang: Lang, number: int, noun: str) -> str:
    """``1 uke``, ``4 uker``: the noun's plural form follows the number."""
    singular, plural = _word(lang, noun)
    return f"{number} {singular if number == 1 else plural}"


def duration(lang: Lang, minutes: int) -> str:
    """Minutes as a person says them: ``45 minutter``, ``20 timer``, ``1 hour 30 minutes``."""
    hours, rest = divmod(minutes, 60)
    parts = ([counted(lang, hours, "hour")] if hours else []) + (
        [counted(lang, rest, "minute")] if rest else []
    )
    return " ".join(parts)


def listed(lang: Lang, items: Sequence[str], conjunction: str = "and") -> str:
    """``a``, ``a og b``, ``a, b og c``: a list as a sentence reads it."""
    word = _word(lang, conjunction)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _quoted(lang: Lang, names: Sequence[str], conjunction: str = "and") -> str:
    return listed(lang, [_word(lang, "quote").format(name) for name in names], conjunction)


def _activities(lang: Lang, types: Sequence[str] | None, plural: bool = True) -> str:
    """``aktiviteter`` or ``aktiviteter av typen «visit» eller «phone_call»``: types as stored."""
    noun = _word(lang, "activity")[1 if plural else 0]
    if not types:
        return noun
    return f"{noun} {_word(lang, 'of_type').format(types=_quoted(lang, types, 'or'))}"


def _amount(lang: Lang, criteria: CriteriaBase, value: int) -> str:
    """A threshold with its unit: ``10 aktiviteter av typen «x»`` or ``20 timer med aktiviteter``."""
    types = criteria.activity_filter
    if _measure(criteria) == "minutes":
        return _word(lang, "time_of").format(
            duration=duration(lang, value), activities=_activities(lang, types)
        )
    noun = counted(lang, value, "activity")
    return f"{noun} {_word(lang, 'of_type').format(types=_quoted(lang, types, 'or'))}" if types else noun


def amount(lang: Lang, criteria: CriteriaBase, value: int) -> str:
    """A target of a counting type in words (``15 activities``, ``1 hour 30 minutes of activities``),
    for texts that name one level (an Open Badges achievement's level name)."""
    return _amount(lang, criteria, value)


def _measure(criteria: CriteriaBase) -> str:
    # "count" | "minutes" (SPEC 8.2); documents from before the field count activities.
    return str(getattr(criteria, "measure", "count"))


def _window(lang: Lang, criteria: ThresholdCriteria) -> str:
    window = criteria.window
    if isinstance(window, CalendarYear):
        return " " + _word(lang, "calendar_year")
    if isinstance(window, RollingDays):
        return " " + (
            _word(lang, "today") if window.days == 1 else _word(lang, "rolling").format(days=window.days)
        )
    return ""


# --- one function per criteria type: a clause per language -------------------------------


def threshold(lang: Lang, criteria: ThresholdCriteria) -> str:
    return _word(lang, "register").format(amount=_amount(lang, criteria, criteria.threshold)) + _window(
        lang, criteria
    )


def streak(lang: Lang, criteria: StreakCriteria) -> str:
    per_week = counted(lang, criteria.min_per_week, "activity")
    if criteria.activity_types:
        per_week += " " + _word(lang, "of_type").format(types=_quoted(lang, criteria.activity_types, "or"))
    if criteria.weeks == 1:
        return _word(lang, "streak_one_week").format(amount=per_week)
    return _word(lang, "streak").format(amount=per_week, weeks=counted(lang, criteria.weeks, "week"))


def training_completion(lang: Lang, criteria: TrainingCompletionCriteria) -> str:
    codes = criteria.training_codes
    single = len(codes) == 1
    if single:
        clause = _word(lang, "training_one").format(codes=_quoted(lang, codes))
    elif criteria.require == "any":
        clause = _word(lang, "training_any").format(codes=_quoted(lang, codes, "or"))
    else:
        clause = _word(lang, "training_all").format(codes=_quoted(lang, codes))
    if criteria.only_valid:
        # A comma keeps "og hold dem gyldige" apart from the "og" of the list it follows.
        clause += (", " if not single and criteria.require == "all" else " ") + _word(
            lang, "keep_valid_one" if single or criteria.require == "any" else "keep_valid_many"
        )
    return clause


def _tier_amount(lang: Lang, criteria: CriteriaBase, value: int) -> str:
    return duration(lang, value) if _measure(criteria) == "minutes" else str(value)


def tier(lang: Lang, criteria: TierCriteria) -> str:
    activities = _activities(lang, criteria.activity_filter)
    what = (
        _word(lang, "log_time").format(activities=activities)
        if _measure(criteria) == "minutes"
        else activities
    )
    items = [
        _word(lang, "tier_item").format(name=t.name, amount=_tier_amount(lang, criteria, t.threshold))
        for t in criteria.tiers
    ]
    template = "tier_one" if len(items) == 1 else "tier"
    return _word(lang, template).format(what=what, tiers=listed(lang, items))


def milestone(lang: Lang, criteria: MilestoneCriteria) -> str:
    thresholds = list(criteria.thresholds)
    if _measure(criteria) == "minutes":
        amounts = listed(lang, [duration(lang, value) for value in thresholds])
        amounts = _word(lang, "time_of").format(
            duration=amounts, activities=_activities(lang, criteria.activity_filter)
        )
    else:
        amounts = listed(
            lang, [str(value) for value in thresholds[:-1]] + [_amount(lang, criteria, thresholds[-1])]
        )
    single = len(thresholds) == 1
    clause = _word(lang, "milestone_one" if single else "milestone").format(amounts=amounts)
    if criteria.payable:
        clause += "; " + _word(lang, "payable_one" if single else "payable")
    return clause


def manual(lang: Lang, criteria: CriteriaBase) -> str:
    return str(_word(lang, "manual"))


def requires_badge(lang: Lang, criteria: RequiresBadgeCriteria) -> str:
    key = _word(lang, "quote").format(criteria.badge_key)
    if criteria.level == 1:
        return str(_word(lang, "requires_badge").format(key=key))
    return str(_word(lang, "requires_badge_level").format(key=key, level=criteria.level))


def _members(lang: Lang, criteria: AllOfCriteria | AnyOfCriteria, conjunction: str) -> str:
    """Members' clauses joined; a nested combination is set off in parentheses so the reader can tell
    which clauses belong together."""
    parts = []
    for member in criteria.criteria:
        part = clause(lang, member)
        parts.append(f"({part})" if isinstance(member, AllOfCriteria | AnyOfCriteria) else part)
    word = _word(lang, conjunction)
    return f"{', '.join(parts[:-1])}, {word} {parts[-1]}"


def all_of(lang: Lang, criteria: AllOfCriteria) -> str:
    return str(_word(lang, "all_of").format(members=_members(lang, criteria, "and")))


def any_of(lang: Lang, criteria: AnyOfCriteria) -> str:
    return str(_word(lang, "any_of").format(members=_members(lang, criteria, "or")))


SENTENCES: dict[str, Callable[[Lang, Any], str]] = {
    "threshold": threshold,
    "streak": streak,
    "training_completion": training_completion,
    "tier": tier,
    "milestone": milestone,
    "manual": manual,
    "requires_badge": requires_badge,
    "all_of": all_of,
    "any_of": any_of,
}


def clause(lang: Lang, criteria: CriteriaBase) -> str:
    """The criteria as a clause (lower case, no full stop), from its type's function."""
    return SENTENCES[criteria.type](lang, criteria)


@lru_cache(maxsize=2048)
def criteria_text(criteria: CriteriaBase) -> CriteriaText:
    """The criteria as one sentence per language. Criteria models are frozen, so the sentence of one
    document is built once per container."""
    sentences = {}
    for lang in LANGUAGES:
        text = clause(lang, criteria)
        sentences[lang] = text[:1].upper() + text[1:] + "."
    return CriteriaText(**sentences)
