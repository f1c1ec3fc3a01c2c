"""Open Badges 3.0 credentials for earned badges (SPEC 8.6).

An earned badge becomes an `OpenBadgeCredential` (W3C Verifiable Credentials 2.0 data model) signed
with a `DataIntegrityProof` (`eddsa-rdfc-2022`, see `peer_badges.data_integrity`). The organisation
is the issuer; its public profile lists every key of the keyring as a `Multikey` verification
method, so a credential signed before a rotation keeps verifying. The mentor appears only as a
salted SHA-256 hash; the salt is derived per organisation from the keyring's secret, so hashes are
not linkable across organisations and cannot be recomputed without the secret (the organisation
can hand a mentor their salt to prove a credential is theirs). `credentialStatus` points at a
`BitstringStatusListEntry`: the badge's fixed bit, set once the badge is revoked.

The builders are pure functions over rows; the four `*_document` functions read the database.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

from peer_badges import data_integrity, narrative
from peer_badges.db import Queryable
from peer_badges.errors import AppError, Conflict, NotFound
from peer_badges.keys import Keyring, SigningKey, load_keyring
from peer_badges.settings import Settings

# The Bitstring Status List spec's minimum length (16 KB), for herd privacy; sql/011 uses the same.
STATUS_LIST_BITS = 131_072

CREDENTIAL_CONTEXT = [data_integrity.VC_V2_CONTEXT, data_integrity.OB_V3_CONTEXT]
# The DID context only for its controller-document terms (`verificationMethod`, `assertionMethod`);
# the issuer is not a DID. Without them a verifier's JSON-LD processing drops the key list.
PROFILE_CONTEXT = [*CREDENTIAL_CONTEXT, data_integrity.DID_V1_CONTEXT, data_integrity.MULTIKEY_CONTEXT]


class CredentialsNotConfigured(AppError):
    status = 503
    code = "credentials_not_configured"


@dataclass(frozen=True)
class Urls:
    """Every public URL a credential names, from the configured base URL."""

    base: str

    def issuer(self, org_id: UUID) -> str:
        return f"{self.base}/orgs/{org_id}/issuer"

    def key(self, org_id: UUID, key: SigningKey) -> str:
        return f"{self.issuer(org_id)}#key-{key.id}"

    def achievement(self, org_id: UUID, definition_id: UUID) -> str:
        return f"{self.base}/orgs/{org_id}/badge-definitions/{definition_id}/achievement"

    def status_list(self, org_id: UUID, list_id: int) -> str:
        return f"{self.base}/orgs/{org_id}/credential-status/{list_id}"


@dataclass(frozen=True)
class Issuing:
    urls: Urls
    keyring: Keyring
    icon_url_template: str | None = None


_BASE_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_ICON_TEMPLATE = re.compile(r"^https://\S*\{icon\}\S*$")


def issuing(settings: Settings) -> Issuing:
    """What signing needs, or a 503 saying what to configure (never a half-signed document)."""
    base = (settings.public_base_url or "").rstrip("/")
    if not _BASE_URL.match(base):
        raise CredentialsNotConfigured(
            "Open Badges credentials are not configured: set PUBLIC_BASE_URL to the API's public "
            "https address (e.g. https://badges.example.org, no query or fragment), which issuer, "
            "achievement and status list URLs are built from."
        )
    template = settings.credential_icon_url_template
    if template and not _ICON_TEMPLATE.match(template):
        raise CredentialsNotConfigured(
            "CREDENTIAL_ICON_URL_TEMPLATE must be an https URL containing {icon}, "
            "e.g. https://cdn.example.org/icons/{icon}.svg."
        )
    return Issuing(urls=Urls(base), keyring=load_keyring(settings), icon_url_template=template)


# ------------------------------------------------------------------------------------ pure builders


def identity_salt(keyring: Keyring, org_id: UUID) -> str:
    return hmac.new(keyring.identity_salt.encode(), str(org_id).encode(), hashlib.sha256).hexdigest()


def identity_hash(keyring: Keyring, org_id: UUID, mentor_id: UUID) -> str:
    """OB 3.0 `IdentityObject.identityHash`: sha256 of the id followed by the org's secret salt."""
    digest = hashlib.sha256((str(mentor_id) + identity_salt(keyring, org_id)).encode()).hexdigest()
    return f"sha256${digest}"


def issuer_ref(urls: Urls, org_id: UUID, org_name: str) -> dict[str, Any]:
    return {"id": urls.issuer(org_id), "type": ["Profile"], "name": org_name}


def issuer_profile(urls: Urls, keyring: Keyring, org_id: UUID, org_name: str) -> dict[str, Any]:
    """The org's OB 3.0 `Profile`, a controller document for every key of the keyring."""
    issuer = urls.issuer(org_id)
    methods = [
        {
            "id": urls.key(org_id, key),
            "type": "Multikey",
            "controller": issuer,
            "publicKeyMultibase": key.public_key_multibase,
        }
        for key in keyring.keys
    ]
    return {
        "@context": PROFILE_CONTEXT,
        **issuer_ref(urls, org_id, org_name),
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }


def _image_url(icon: str | None, template: str | None) -> str | None:
    if not icon:
        return None
    if urlsplit(icon).scheme in ("https", "http", "data"):
        return icon
    return template.replace("{icon}", quote(icon, safe="")) if template else None


def achievement(
    issuing: Issuing, org_id: UUID, definition: Mapping[str, Any], criteria: Mapping[str, Any]
) -> dict[str, Any]:
    """The definition as an OB 3.0 `Achievement` (without @context: embedded or wrapped by callers)."""
    narrative_text = narrative.sentence(criteria)
    document: dict[str, Any] = {
        "id": issuing.urls.achievement(org_id, definition["id"]),
        "type": ["Achievement"],
        "achievementType": "Badge",
        "name": definition["name"],
        "description": definition.get("description") or narrative_text,
        "criteria": {"narrative": narrative_text},
    }
    image = _image_url(definition.get("icon"), issuing.icon_url_template)
    if image:
        # The caption is the image's text alternative (SPEC 8.7), the badge's name for rows without one.
        caption = definition.get("icon_alt") or definition["name"]
        document["image"] = {"id": image, "type": "Image", "caption": caption}
    return document


def _midnight(day: date, timezone: str) -> str:
    return datetime.combine(day, time(0), ZoneInfo(timezone)).isoformat()


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def unsigned_credential(issuing: Issuing, badge: Mapping[str, Any]) -> dict[str, Any]:
    """`badge`: an earned badge row joined with its definition, org and status list entry."""
    org_id: UUID = badge["org_id"]
    criteria = badge["criteria_snapshot"]
    level = narrative.level_name(criteria, badge["level"])
    list_url = issuing.urls.status_list(org_id, badge["list_id"])
    return {
        "@context": CREDENTIAL_CONTEXT,
        "id": f"urn:uuid:{badge['id']}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{badge['name']}: {level}" if level else badge["name"],
        "issuer": issuer_ref(issuing.urls, org_id, badge["org_name"]),
        "validFrom": _midnight(badge["earned_at"], badge["timezone"]),
        "awardedDate": _timestamp(badge["awarded_at"]),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": identity_hash(issuing.keyring, org_id, badge["peer_mentor_id"]),
                    "identityType": "systemId",
                    "hashed": True,
                }
            ],
            "achievement": achievement(
                issuing,
                org_id,
                {
                    "id": badge["badge_definition_id"],
                    "name": badge["name"],
                    "description": badge["description"],
                    "icon": badge["icon"],
                    "icon_alt": badge["icon_alt"],
                },
                criteria,
            ),
        },
        "credentialStatus": {
            "id": f"{list_url}#{badge['status_index']}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(badge["status_index"]),
            "statusListCredential": list_url,
        },
    }


def encoded_list(revoked_indexes: list[int]) -> str:
    """Multibase base64url (no padding) of the GZIP-compressed bitstring; bit 0 is the first byte's
    most significant bit. mtime=0 keeps the output, and so the signature and ETag, deterministic."""
    bits = bytearray(STATUS_LIST_BITS // 8)
    for index in revoked_indexes:
        bits[index // 8] |= 0x80 >> (index % 8)
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def status_list_credential(
    issuing: Issuing, org_id: UUID, list_id: int, revoked_indexes: list[int], valid_from: datetime
) -> dict[str, Any]:
    """A plain VC 2.0 credential (no OB context, so the issuer is its URL, not a Profile object);
    verifiers check that it names the same issuer as the credentials pointing at it."""
    url = issuing.urls.status_list(org_id, list_id)
    return {
        "@context": [data_integrity.VC_V2_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuing.urls.issuer(org_id),
        "validFrom": _timestamp(valid_from),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded_list(revoked_indexes),
        },
    }


def sign(issuing: Issuing, org_id: UUID, unsigned: dict[str, Any], created: datetime) -> dict[str, Any]:
    key = issuing.keyring.current
    options = data_integrity.proof_options(issuing.urls.key(org_id, key), _timestamp(created))
    return data_integrity.sign(unsigned, key.private_key, options)


# ------------------------------------------------------------------------------------- reads

_BADGE_SQL = """
SELECT e.id, e.org_id, e.peer_mentor_id, e.badge_definition_id, e.level, e.earned_at, e.awarded_at,
       e.criteria_snapshot, e.revoked_at, d.name, d.description, d.icon, d.icon_alt,
       o.name AS org_name, o.timezone,
       e.list_id, e.status_index
  FROM earned_badges AS e
  JOIN badge_definitions AS d ON d.org_id = e.org_id AND d.id = e.badge_definition_id
  JOIN organizations AS o ON o.id = e.org_id
 WHERE e.id = :earned_badge_id AND e.org_id = :org_id AND e.peer_mentor_id = :mentor_id
"""

_ORG_SQL = "SELECT name FROM organizations WHERE id = :org_id"

_DEFINITION_SQL = """
SELECT id, name, description, icon, icon_alt, criteria FROM badge_definitions WHERE org_id = :org_id AND id = :definition_id
"""

# Only lists this org has entries in exist for it; the others' bits in the same list stay 0. The list
# changes only when a badge in it is revoked, so its validFrom is the latest revocation (or the first
# entry's award): re-signing an unchanged list gives the same document, and the same ETag.
_STATUS_LIST_SQL = """
SELECT COALESCE(array_agg(e.status_index ORDER BY e.status_index) FILTER (WHERE e.revoked_at IS NOT NULL),
                '{}') AS revoked,
       GREATEST(MAX(e.revoked_at), MIN(e.awarded_at)) AS changed_at
  FROM earned_badges AS e
 WHERE e.org_id = :org_id AND e.list_id = :list_id
HAVING count(*) > 0
"""


def credential_document(
    db: Queryable, issuing: Issuing, org_id: UUID, mentor_id: UUID, earned_badge_id: UUID, now: datetime
) -> dict[str, Any]:
    badge = db.query_one(_BADGE_SQL, org_id=org_id, mentor_id=mentor_id, earned_badge_id=earned_badge_id)
    if badge is None:
        raise NotFound("No such earned badge for this mentor in this organisation.")
    if badge["revoked_at"] is not None:
        raise Conflict("This badge was revoked; no credential is issued for it.")
    return sign(issuing, org_id, unsigned_credential(issuing, badge), now)


def issuer_document(db: Queryable, issuing: Issuing, org_id: UUID) -> dict[str, Any]:
    org = db.query_one(_ORG_SQL, org_id=org_id)
    if org is None:
        raise NotFound("No such organisation.")
    return issuer_profile(issuing.urls, issuing.keyring, org_id, org["name"])


def achievement_document(
    db: Queryable, issuing: Issuing, org_id: UUID, definition_id: UUID
) -> dict[str, Any]:
    definition = db.query_one(_DEFINITION_SQL, org_id=org_id, definition_id=definition_id)
    if definition is None:
        raise NotFound("No such badge definition in this organisation.")
    return {
        "@context": CREDENTIAL_CONTEXT,
        **achievement(issuing, org_id, definition, definition["criteria"]),
    }


def status_list_document(db: Queryable, issuing: Issuing, org_id: UUID, list_id: int) -> dict[str, Any]:
    row = db.query_one(_STATUS_LIST_SQL, org_id=org_id, list_id=list_id)
    if row is None:
        raise NotFound("No such status list for this organisation.")
    changed_at: datetime = row["changed_at"]
    unsigned = status_list_credential(issuing, org_id, list_id, list(row["revoked"]), changed_at)
    return sign(issuing, org_id, unsigned, changed_at)
