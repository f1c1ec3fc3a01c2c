"""Which language a caller reads (``Accept-Language``), and error messages in it (SPEC 8.7).

Negotiation: the header's weighted list (RFC 9110 §12.5.4: ``tag;q=w`` items, comma separated) is
ordered by weight here; babel parses each tag (``parse_locale``) and picks the best available language
(``negotiate_locale``). ``no`` and ``nn`` read bokmål. Anything else, a malformed header included,
falls back to English; it is never an error.

Translation happens at the edge, so the layer's modules keep writing their messages in English and
the criteria modules stay as they are: the catalogue is keyed by the English message *template*
(gettext-style: the source text is the message id) with ``{name}`` placeholders; a message is matched
against the templates, its parameters are taken from the match, translated themselves when they are
catalogue fragments (labels such as "Threshold", described values such as "a list"), and put into the
Norwegian template. pydantic's own errors are translated by their ``type`` and ``ctx`` instead. A
message without a catalogue entry stays English rather than being replaced by something vaguer;
``tests/unit/test_language.py`` holds the catalogue to the messages the layer writes.

Why a Python dict and not .po/.mo files: the catalogue is small, holds templates that must be matched
back (not only looked up), needs no build step in CI or ``sam build``, and is type-checked with the
layer. babel's ``messages`` tooling would add a compile step for no gain at this size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

Lang = Literal["nb", "en"]  # what a caller reads, and what peer_badges.wording writes

DEFAULT: Lang = "en"
_AVAILABLE = ("nb", "en")
_BOKMAL_ALIASES = {"no": "nb", "nn": "nb"}
_MAX_HEADER = 500  # longer headers are not read at all (English)
_MAX_ITEMS = 20


def negotiate(header: str | None) -> Lang:
    """``nb`` or ``en`` for an ``Accept-Language`` header; English when nothing fits."""
    if not header or len(header) > _MAX_HEADER:
        return DEFAULT
    # Imported on first use: handlers that never read a header (the drain) skip babel's import cost.
    from babel import negotiate_locale
    from babel.core import parse_locale

    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:_MAX_ITEMS]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        if weight <= 0 or not tag or tag == "*":
            continue
        try:
            language = parse_locale(tag.strip(), sep="-")[0].lower()
        except ValueError:
            continue
        weighted.append((-weight, position, _BOKMAL_ALIASES.get(language, language)))
    preferred = [language for _, _, language in sorted(weighted)]
    chosen = negotiate_locale(preferred, _AVAILABLE, sep="-") if preferred else None
    return "nb" if chosen == "nb" else DEFAULT


# --- the catalogue: English template -> bokmål template ----------------------------------

NB: dict[str, str] = {
    # api.py: the error mapping
    "The request has invalid fields; see details.": "Forespørselen har ugyldige felt; se detaljene.",
    "The request body is not valid JSON.": "Forespørselen er ikke gyldig JSON.",
    "The request body is not valid JSON: {reason}.": "Forespørselen er ikke gyldig JSON: {reason}.",
    "The request body must be UTF-8 encoded JSON.": "Forespørselen må være JSON kodet som UTF-8.",
    "Invalid {where} parameter '{name}'.": "Ugyldig parameter '{name}'.",
    "'{name}' must be a UUID, e.g. {example}.": "'{name}' må være en UUID, for eksempel {example}.",
    "No such route.": "Denne adressen finnes ikke.",
    "Send the body as JSON with Content-Type: application/json.": (
        "Send innholdet som JSON med Content-Type: application/json."
    ),
    "Something went wrong on our side; quote the correlation id.": (
        "Noe gikk galt hos oss; oppgi korrelasjons-id-en."
    ),
    "The service is temporarily unavailable; retry shortly.": (
        "Tjenesten er midlertidig utilgjengelig; prøv igjen om litt."
    ),
    "A valid access token is required.": "Et gyldig tilgangstoken kreves.",
    "The request body is larger than {size} KB.": "Forespørselen er større enn {size} KB.",
    "... and {count} more problems.": "... og {count} problemer til.",
    # definitions
    "A badge with an icon needs icon_alt: a short text alternative a screen reader can speak "
    "(at most {limit} characters).": (
        "Et merke med ikon trenger icon_alt: en kort tekst en skjermleser kan lese opp i stedet for "
        "ikonet (høyst {limit} tegn)."
    ),
    "There is no badge definition {id} in this organisation.": "Det finnes ingen merkedefinisjon {id} i denne organisasjonen.",
    'A badge with the key "{key}" already exists in this organisation; choose another key.': (
        'Et merke med nøkkelen "{key}" finnes allerede i denne organisasjonen; velg en annen nøkkel.'
    ),
    "The criteria are not valid; see details.": "Kriteriene er ikke gyldige; se detaljene.",
    "The badge definition changed since you loaded it (you have revision {mine}, it is now at "
    "{theirs}). Reload it and apply your change again.": (
        "Merkedefinisjonen er endret siden du hentet den (du har revisjon {mine}, den er nå på "
        "{theirs}). Hent den på nytt og gjør endringen igjen."
    ),
    "The criteria require badges that do not exist here, or would make a cycle; see details.": (
        "Kriteriene krever merker som ikke finnes her, eller ville gi en sirkel; se detaljene."
    ),
    # criteria: peer_badges.criteria (base and __init__)
    "Criteria must be an object like {example}; got {value}.": "Kriteriene må være et objekt som {example}; fikk {value}.",
    "Criteria need a schema_version; use 1.": "Kriteriene trenger schema_version; bruk 1.",
    "Criteria version {value} is not supported; use schema_version 1.": (
        "Kriterieversjon {value} støttes ikke; bruk schema_version 1."
    ),
    "schema_version must be the number 1; got {value}.": "schema_version må være tallet 1; fikk {value}.",
    "Choose a criteria type: one of {known}.": "Velg en kriterietype: en av {known}.",
    "Unknown criteria type {kind}. Known types: {known}.": "Ukjent kriterietype {kind}. Kjente typer: {known}.",
    'Unknown field "{name}" for a {what} {thing}. Known fields: {known}.': (
        'Ukjent felt "{name}" for {thing} av typen {what}. Kjente felt: {known}.'
    ),
    'A {what} {thing} needs the field "{name}".': '{Thing} av typen {what} trenger feltet "{name}".',
    "{label} cannot be empty (null); enter a whole number from 1 to {maximum}.": (
        "{label} kan ikke være tom (null); skriv et heltall fra 1 til {maximum}."
    ),
    "{label} must be a whole number, not true or false; got {value}.": (
        "{label} må være et heltall, ikke true eller false; fikk {value}."
    ),
    "{label} must be greater than 0; got {value}.": "{label} må være større enn 0; fikk {value}.",
    "{label} can be at most {maximum}; got {value}.": "{label} kan være høyst {maximum}; fikk {value}.",
    "{label} must be a whole number greater than 0; got {value}. Write it as {whole}, without decimals.": (
        "{label} må være et heltall større enn 0; fikk {value}. Skriv {whole}, uten desimaler."
    ),
    "{label} must be a whole number greater than 0; got {value}.": (
        "{label} må være et heltall større enn 0; fikk {value}."
    ),
    '{label} must be a number, not text; got "{value}". Remove the quotes.': (
        '{label} må være et tall, ikke tekst; fikk "{value}". Fjern anførselstegnene.'
    ),
    "{label} must be true or false; got {value}.": "{label} må være true eller false; fikk {value}.",
    "{label} must be a list like {example}; got {value}.": "{label} må være en liste som {example}; fikk {value}.",
    "{label} needs at least one entry.": "{label} trenger minst ett element.",
    "{label} can have at most {maximum} entries; got {count}.": "{label} kan ha høyst {maximum} elementer; fikk {count}.",
    "{label} lists {value} more than once.": "{label} har {value} mer enn én gang.",
    "{label} lists the same entry twice.": "{label} har det samme elementet to ganger.",
    "{label} must be text; got {value}.": "{label} må være tekst; fikk {value}.",
    "{label} cannot be blank.": "{label} kan ikke være tom.",
    "{label} can be at most {maximum} characters; got {count}.": "{label} kan være høyst {maximum} tegn; fikk {count}.",
    "{label} {value} has spaces at the start or end; remove them.": (
        "{label} {value} har mellomrom først eller sist; fjern dem."
    ),
    "Activity types needs at least one entry; leave it out (or use null) to count every activity type.": (
        "Aktivitetstyper trenger minst ett element; utelat feltet (eller bruk null) for å telle alle "
        "aktivitetstyper."
    ),
    "Thresholds must be strictly increasing.": "Tersklene må øke for hver gang.",
    "Thresholds must increase: {label} is {value}, which is not more than {previous} ({earlier}).": (
        "Tersklene må øke: {label} er {value}, som ikke er mer enn {previous} ({earlier})."
    ),
    "An activity type {value} has spaces at the start or end; remove them.": (
        "En aktivitetstype {value} har mellomrom først eller sist; fjern dem."
    ),
    "A training code {value} has spaces at the start or end; remove them.": (
        "En kurskode {value} har mellomrom først eller sist; fjern dem."
    ),
    "A tier name {value} has spaces at the start or end; remove them.": (
        "Et nivånavn {value} har mellomrom først eller sist; fjern dem."
    ),
    "A combination needs at least {minimum} criteria; got {count}. For one criterion, use it directly.": (
        "En kombinasjon trenger minst {minimum} kriterier; fikk {count}. Bruk kriteriet direkte når det "
        "bare er ett."
    ),
    "A {kind} badge has several levels or none, so it cannot be part of a combination. Allowed: "
    "{allowed}; to combine with a badge, use requires_badge.": (
        "Et merke av typen {kind} har flere nivåer eller ingen, så det kan ikke være del av en "
        "kombinasjon. Tillatt: {allowed}; bruk requires_badge for å kombinere med et merke."
    ),
    "Combinations can be nested at most {maximum} deep; this one would be {depth}.": (
        "Kombinasjoner kan nøstes høyst {maximum} nivåer dypt; denne ville blitt {depth}."
    ),
    'Require must be "all" or "any"; got {value}.': 'Require må være "all" eller "any"; fikk {value}.',
    "badge_key must be the key of one of the organisation's badges (lowercase letters, digits, - and _); "
    "got {value}.": (
        "badge_key må være nøkkelen til et av organisasjonens merker (små bokstaver, sifre, - og _); "
        "fikk {value}."
    ),
    'There is no badge with the key "{key}" in this organisation. Known keys: {known}.': (
        'Det finnes ikke noe merke med nøkkelen "{key}" i denne organisasjonen. Kjente nøkler: {known}.'
    ),
    '"{key}" requires "{own}" (directly or through other badges), so requiring it here would make a '
    "cycle no one could ever complete.": (
        '"{key}" krever "{own}" (direkte eller gjennom andre merker), så å kreve det her ville gi en '
        "sirkel ingen kan fullføre."
    ),
    "The window must be an object like {example}; got {value}.": "Vinduet må være et objekt som {example}; fikk {value}.",
    "The window needs a kind: one of {kinds}.": "Vinduet trenger en kind: en av {kinds}.",
    "Unknown window kind {kind}. Known kinds: {kinds}.": "Ukjent vindustype {kind}. Kjente typer: {kinds}.",
}

# Parameters that are English words themselves: labels and described values (criteria.base.describe).
FRAGMENTS: dict[str, str] = {
    "badge": "et merke",
    "Badge": "Et merke",
    "window": "et vindu",
    "Window": "Et vindu",
    "Threshold": "Terskelen",
    "Thresholds": "Tersklene",
    "Weeks": "Antall uker",
    "Minimum per week": "Minimum per uke",
    "Days": "Antall dager",
    "Level": "Nivået",
    "Payable": "Payable",
    "Only valid": "Only valid",
    "Activity types": "Aktivitetstyper",
    "An activity type": "En aktivitetstype",
    "Training codes": "Kurskoder",
    "A training code": "En kurskode",
    "Tiers": "Nivåene",
    "A tier name": "Et nivånavn",
    "an empty value (null)": "en tom verdi (null)",
    "a list": "en liste",
    "an object": "et objekt",
    "a very large number": "et svært stort tall",
    "path": "sti",
    "query": "spørre",
    "header": "header",
}
# Described values with a part of their own: 'the text "x"'.
_DESCRIBED = (("the text ", "teksten "), ("a value of type ", "en verdi av typen "))

# pydantic's own errors, by type; the placeholders are the error's ctx.
PYDANTIC_NB: dict[str, str] = {
    "missing": "Feltet mangler.",
    "extra_forbidden": "Ukjent felt; det er ikke tillatt her.",
    "string_type": "Må være tekst.",
    "string_too_short": "Må ha minst {min_length} tegn.",
    "string_too_long": "Kan ha høyst {max_length} tegn.",
    "string_pattern_mismatch": "Har ikke riktig form ({pattern}).",
    "int_type": "Må være et heltall.",
    "int_parsing": "Må være et heltall.",
    "bool_type": "Må være true eller false.",
    "bool_parsing": "Må være true eller false.",
    "uuid_type": "Må være en UUID.",
    "uuid_parsing": "Må være en UUID.",
    "date_from_datetime_parsing": "Må være en dato (ÅÅÅÅ-MM-DD).",
    "date_parsing": "Må være en dato (ÅÅÅÅ-MM-DD).",
    "date_type": "Må være en dato (ÅÅÅÅ-MM-DD).",
    "greater_than": "Må være større enn {gt}.",
    "greater_than_equal": "Må være minst {ge}.",
    "less_than": "Må være mindre enn {lt}.",
    "less_than_equal": "Kan være høyst {le}.",
    "too_short": "Må ha minst {min_length} elementer.",
    "too_long": "Kan ha høyst {max_length} elementer.",
    "literal_error": "Må være en av {expected}.",
    "model_attributes_type": "Må være et objekt.",
    "dict_type": "Må være et objekt.",
    "model_type": "Må være et objekt.",
    "tuple_type": "Må være en liste.",
    "list_type": "Må være en liste.",
    "json_invalid": "Ugyldig JSON.",
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Placeholders whose values are English words (labels, described values); all others (types, keys,
# field names, examples) are identifiers and stay exactly as written.
_WORDS_IN_PARAMETERS = frozenset({"label", "previous", "value", "thing", "where"})


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """Each template as a full-match pattern, the most specific (longest literal text) first."""
    compiled = []
    for english, norwegian in NB.items():
        pieces = _PLACEHOLDER.split(english)
        regex = "".join(
            re.escape(piece) if index % 2 == 0 else f"(?P<{piece}>.+?)" for index, piece in enumerate(pieces)
        )
        literal = sum(len(piece) for piece in pieces[::2])
        compiled.append((literal, re.compile(regex + r"\Z", re.DOTALL), norwegian))
    compiled.sort(key=lambda item: -item[0])
    return [(pattern, norwegian) for _, pattern, norwegian in compiled]


# Numbered labels: "Threshold 3", "The threshold of tier 2".
_NUMBERED = (
    (re.compile(r"The threshold of tier (\d+)\Z"), r"Terskelen for nivå \1"),
    (re.compile(r"the threshold of tier (\d+)\Z"), r"terskelen for nivå \1"),
    (re.compile(r"Threshold (\d+)\Z"), r"Terskel \1"),
    (re.compile(r"threshold (\d+)\Z"), r"terskel \1"),
)


def _fragment(value: str) -> str:
    if value in FRAGMENTS:
        return FRAGMENTS[value]
    for pattern, replacement in _NUMBERED:
        if pattern.match(value):
            return pattern.sub(replacement, value)
    for english, norwegian in _DESCRIBED:
        if value.startswith(english):
            return norwegian + value[len(english) :]
    return value


def translate(message: str, lang: Lang) -> str:
    """``message`` in ``lang``; English, or a message without a catalogue entry, is returned as it is."""
    if lang == "en" or not message:
        return message
    exact = NB.get(message)
    if exact is not None and not _PLACEHOLDER.search(exact):
        return exact
    for pattern, norwegian in _patterns():
        found = pattern.match(message)
        if found:
            values = {
                name: _fragment(value) if name in _WORDS_IN_PARAMETERS else value
                for name, value in found.groupdict().items()
            }
            values.update({name.capitalize(): _capital(value) for name, value in values.items()})
            return norwegian.format(**values)
    return message


def _capital(value: str) -> str:
    return value[:1].upper() + value[1:]


def translate_pydantic(code: str, context: Mapping[str, Any] | None, message: str, lang: Lang) -> str:
    """A pydantic error's message: by its type when it is one of pydantic's, else from the catalogue."""
    if lang == "en":
        return message
    template = PYDANTIC_NB.get(code)
    if template is not None and "message" not in (context or {}):  # "message": one of the layer's own
        try:
            return template.format(**dict(context or {}))
        except (KeyError, IndexError):
            pass
    return translate(message, lang)


def translate_details(details: list[dict[str, str]], lang: Lang) -> list[dict[str, str]]:
    """Problem items with their messages translated; ``path`` and ``code`` never change."""
    if lang == "en":
        return details
    return [{**item, "message": translate(str(item.get("message", "")), lang)} for item in details]
