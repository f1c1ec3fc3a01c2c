"""The pure parts of Open Badges issuing: criteria narrative, status bits, identity hashes, keyring."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peer_badges import credentials, narrative
from peer_badges.criteria.registry import parse_criteria
from peer_badges.keys import Keyring, KeyringUnavailable, ensure_local_keyring, load_keyring, new_keyring
from peer_badges.keys import _main as keys_cli
from peer_badges.settings import Settings
from peer_badges.wording import criteria_text

ORG, OTHER_ORG, MENTOR = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("criteria", "text"),
    [
        (
            {
                "type": "threshold",
                "threshold": 10,
                "activity_types": ["assignment"],
                "window": {"kind": "calendar_year"},
            },
            "Register at least 10 activities of type “assignment” within one calendar year.",
        ),
        ({"type": "threshold", "threshold": 1}, "Register at least 1 activity."),
        (
            {
                "type": "threshold",
                "threshold": 600,
                "measure": "minutes",
                "window": {"kind": "rolling_days", "days": 90},
            },
            "Register at least 600 minutes of activities within 90 days.",
        ),
        (
            {"type": "streak", "weeks": 4, "min_per_week": 2, "activity_types": ["visit", "call"]},
            "Be active 4 weeks in a row, registering at least 2 activities of type “visit” or “call” each week "
            "(weeks run Monday to Sunday).",
        ),
        (
            {
                "type": "training_completion",
                "training_codes": ["basic", "advanced"],
                "require": "any",
                "only_valid": True,
            },
            "Complete one of the trainings “basic” or “advanced”, and keep the certification valid (not expired).",
        ),
        (
            {"type": "milestone", "thresholds": [3, 15], "activity_types": ["assignment"], "payable": True},
            "A badge with levels, one per milestone reached: 3 activities of type “assignment” and "
            "15 activities of type “assignment”.",
        ),
        (
            {"type": "requires_badge", "badge_key": "first-visit", "level": 2},
            "Hold the organisation's badge “first-visit” at level 2 or higher.",
        ),
        (
            {
                "type": "all_of",
                "criteria": [
                    {"type": "threshold", "threshold": 5},
                    {"type": "training_completion", "training_codes": ["basic"]},
                ],
            },
            "Meet all of the following: (1) Register at least 5 activities; (2) Complete the training “basic”.",
        ),
    ],
)
def test_criteria_read_as_plain_sentences(criteria: dict, text: str) -> None:
    # The achievement's narrative is the wording module's English sentence (one owner of the words)
    sentence = narrative.sentence({"schema_version": 1, **criteria})
    assert sentence == criteria_text(parse_criteria(narrative._versioned(criteria))).en
    assert sentence and sentence[0].isupper() and sentence.endswith(".") and "None" not in sentence


def test_every_level_of_a_multi_level_badge_has_a_name() -> None:
    tiers = {
        "type": "tier",
        "tiers": [{"name": "Bronze", "threshold": 5}, {"name": "Silver", "threshold": 25}],
    }

    assert narrative.level_name(tiers, 2) == "Silver"
    assert (
        narrative.level_name({"type": "milestone", "thresholds": [3, 15]}, 1) == "Milestone 1: 3 activities"
    )
    assert narrative.level_name({"type": "threshold", "threshold": 3}, 1) is None
    # Minutes as every other text says them (peer_badges.wording)
    hours = {"type": "milestone", "thresholds": [90, 1200], "measure": "minutes", "payable": True}
    assert narrative.level_name(hours, 1) == "Milestone 1: 1 hour 30 minutes of activities"
    assert narrative.level_name(hours, 2) == "Milestone 2: 20 hours of activities"


def test_an_unknown_criteria_type_has_no_made_up_narrative() -> None:
    with pytest.raises(ValueError, match="no narrative"):
        narrative.sentence({"type": "mystery"})


def test_the_encoded_list_sets_exactly_the_revoked_bits_left_to_right() -> None:
    encoded = credentials.encoded_list([0, 9, credentials.STATUS_LIST_BITS - 1])

    assert encoded.startswith("u")
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(bits) * 8 == credentials.STATUS_LIST_BITS
    assert bits[0] == 0b1000_0000 and bits[1] == 0b0100_0000 and bits[-1] == 0b0000_0001
    assert sum(bin(byte).count("1") for byte in bits) == 3
    assert credentials.encoded_list([9]) == credentials.encoded_list([9])  # deterministic (ETag, signature)


def test_the_identity_hash_hides_the_mentor_and_differs_per_org_and_per_deployment() -> None:
    keyring = new_keyring()

    hashed = credentials.identity_hash(keyring, ORG, MENTOR)

    assert hashed.startswith("sha256$") and str(MENTOR) not in hashed
    assert hashed == credentials.identity_hash(keyring, ORG, MENTOR)
    assert hashed != credentials.identity_hash(keyring, OTHER_ORG, MENTOR)
    assert hashed != credentials.identity_hash(new_keyring(), ORG, MENTOR)


@pytest.mark.parametrize(
    ("base", "message"),
    [
        (None, "set PUBLIC_BASE_URL"),
        ("", "set PUBLIC_BASE_URL"),
        ("badges.example.org", "set PUBLIC_BASE_URL"),
        ("https://badges.example.org/?x=1", "set PUBLIC_BASE_URL"),
    ],
)
def test_without_a_usable_base_url_nothing_is_signed(base: str | None, message: str, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    ensure_local_keyring(keys)
    settings = Settings(database_url="postgresql://x", public_base_url=base, credential_keys_file=str(keys))

    with pytest.raises(credentials.CredentialsNotConfigured, match=message):
        credentials.issuing(settings)


def test_a_trailing_slash_on_the_base_url_is_harmless(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    ensure_local_keyring(keys)
    settings = Settings(
        database_url="postgresql://x",
        public_base_url="https://b.example.org/api/",
        credential_keys_file=str(keys),
    )

    assert credentials.issuing(settings).urls.issuer(ORG) == f"https://b.example.org/api/orgs/{ORG}/issuer"


def test_icons_become_images_only_as_urls() -> None:
    template = "https://cdn.example.org/icons/{icon}.svg"

    assert credentials._image_url("star", template) == "https://cdn.example.org/icons/star.svg"
    assert credentials._image_url("a/b", template) == "https://cdn.example.org/icons/a%2Fb.svg"
    assert credentials._image_url("https://x.example/i.png", None) == "https://x.example/i.png"
    assert credentials._image_url("star", None) is None
    assert credentials._image_url(None, template) is None


def test_the_local_keyring_is_created_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keys.json"

    created = ensure_local_keyring(path)
    again = ensure_local_keyring(path)

    assert again == created
    assert path.stat().st_mode & 0o777 == 0o600


def test_rotation_appends_a_current_key_and_keeps_the_old_ones(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    original = ensure_local_keyring(path)

    assert keys_cli(["rotate", str(path)]) == 0
    rotated = Keyring.model_validate_json(path.read_text())

    assert rotated.keys[:-1] == original.keys and rotated.current != original.current
    assert rotated.identity_salt == original.identity_salt
    assert rotated.current.public_key_multibase.startswith("z6Mk")


def test_a_keyring_with_a_broken_key_or_duplicate_ids_is_refused() -> None:
    good = json.loads(new_keyring().model_dump_json())
    broken = {**good, "keys": [{**good["keys"][0], "secret_key_multibase": "z111"}]}
    duplicated = {**good, "keys": [good["keys"][0], good["keys"][0]]}

    for document in (broken, duplicated):
        with pytest.raises(ValueError):
            Keyring.model_validate(document)


def test_an_unreadable_or_missing_keyring_is_a_503_naming_the_settings(tmp_path: Path) -> None:
    missing_file = Settings(database_url="postgresql://x", credential_keys_file=str(tmp_path / "nope.json"))
    nothing = Settings(database_url="postgresql://x")

    with pytest.raises(KeyringUnavailable, match="cannot be read"):
        load_keyring(missing_file)
    with pytest.raises(KeyringUnavailable, match="CREDENTIAL_KEYS_SECRET_ARN"):
        load_keyring(nothing)


def test_the_keyring_secret_is_read_through_powertools_with_a_cache_age(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aws_lambda_powertools.utilities import parameters

    calls = []
    secret = json.loads(new_keyring().model_dump_json())

    def fake_get_secret(name: str, transform: str, max_age: int) -> dict:
        calls.append((name, transform, max_age))
        return secret

    monkeypatch.setattr(parameters, "get_secret", fake_get_secret)
    settings = Settings(
        database_url="postgresql://x", credential_keys_secret_arn="arn:keys", secret_max_age_s=120
    )

    keyring = load_keyring(settings)

    assert calls == [("arn:keys", "json", 120)]
    assert keyring.current.id == secret["keys"][0]["id"]
    assert datetime.now(UTC) >= keyring.current.created_at
