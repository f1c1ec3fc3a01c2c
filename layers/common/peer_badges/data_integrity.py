"""Data Integrity proofs with the `eddsa-rdfc-2022` cryptosuite (W3C vc-di-eddsa, section 3.3).

Canonicalisation is pyld's RDFC-1.0 (URDNA2015); signatures are `cryptography`'s Ed25519. The only
code written here is the glue the cryptosuite specifies: hash the canonical proof options and the
canonical document with SHA-256, sign the concatenation, encode as multibase base58btc.

JSON-LD contexts come from files shipped in `peer_badges/contexts/`: the document loader refuses
every other URL, so signing and verifying never touch the network (and a document naming an unknown
context fails instead of being signed half-understood).
"""

from __future__ import annotations

import copy
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pyld import jsonld
from pyld.documentloader.frozen import FrozenDocumentLoader

CRYPTOSUITE = "eddsa-rdfc-2022"
PROOF_TYPE = "DataIntegrityProof"

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v2"
# Defines `verificationMethod` and `assertionMethod` on a controller document (an issuer profile).
DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"

_CONTEXT_DIR = Path(__file__).parent / "contexts"
SHIPPED_CONTEXTS: dict[str, Path] = {
    VC_V2_CONTEXT: _CONTEXT_DIR / "credentials-v2.jsonld",
    OB_V3_CONTEXT: _CONTEXT_DIR / "ob-v3p0-context-3.0.3.json",
    MULTIKEY_CONTEXT: _CONTEXT_DIR / "multikey-v1.jsonld",
    DATA_INTEGRITY_CONTEXT: _CONTEXT_DIR / "data-integrity-v2.jsonld",
    DID_V1_CONTEXT: _CONTEXT_DIR / "did-v1.jsonld",
}

# Multicodec prefixes (varint-encoded) for Ed25519 keys in Multikey form.
ED25519_PUBLIC_PREFIX = b"\xed\x01"
ED25519_SECRET_PREFIX = b"\x80\x26"

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class ProofError(ValueError):
    """A document that cannot be signed or verified as asked (unknown context, malformed proof)."""


def base58btc_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_BASE58_ALPHABET[remainder])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _BASE58_ALPHABET.find(char)
        if index < 0:
            raise ProofError(f"{char!r} is not a base58btc character")
        number = number * 58 + index
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading_zeros + body


def multibase_encode(data: bytes) -> str:
    return "z" + base58btc_encode(data)


def multibase_decode(text: str) -> bytes:
    if not text.startswith("z"):
        raise ProofError("only multibase base58btc ('z…') values are supported")
    return base58btc_decode(text[1:])


def public_key_multibase(key: Ed25519PublicKey) -> str:
    return multibase_encode(ED25519_PUBLIC_PREFIX + key.public_bytes_raw())


def public_key_from_multibase(text: str) -> Ed25519PublicKey:
    raw = multibase_decode(text)
    if not raw.startswith(ED25519_PUBLIC_PREFIX) or len(raw) != 34:
        raise ProofError("not an Ed25519 public key in Multikey form")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def secret_key_multibase(key: Ed25519PrivateKey) -> str:
    return multibase_encode(ED25519_SECRET_PREFIX + key.private_bytes_raw())


def private_key_from_multibase(text: str) -> Ed25519PrivateKey:
    raw = multibase_decode(text)
    if not raw.startswith(ED25519_SECRET_PREFIX) or len(raw) != 34:
        raise ProofError("not an Ed25519 secret key in Multikey form")
    return Ed25519PrivateKey.from_private_bytes(raw[2:])


@cache
def document_loader(extra: tuple[tuple[str, Path], ...] = ()) -> FrozenDocumentLoader:
    """The shipped contexts (plus `extra`, e.g. a test vector's context); nothing else loads."""
    return FrozenDocumentLoader(documents={**SHIPPED_CONTEXTS, **dict(extra)})


def _relative_iris(canonical: str) -> list[str]:
    found = []
    for quads in jsonld.JsonLdProcessor.parse_nquads(canonical).values():
        for quad in quads:
            for position in ("subject", "predicate", "object"):
                term = quad[position]
                # pyld resolves a relative IRI (e.g. a type no context defines) against a
                # placeholder base instead of refusing it; verifiers refuse such documents.
                if term["type"] == "IRI" and (
                    term["value"].startswith(jsonld.DEFAULT_BASE_IRI) or ":" not in term["value"]
                ):
                    found.append(term["value"])
    return found


def canonicalize(document: dict[str, Any], loader: FrozenDocumentLoader | None = None) -> str:
    """RDFC-1.0 canonical N-Quads. Terms the contexts do not define would silently drop out of the
    RDF (and so out of the signature), so `safe` mode refuses them; a type the contexts do not
    define would become a relative IRI, which verifiers refuse, so that is refused here as well."""
    try:
        canonical = str(
            jsonld.normalize(
                document,
                {
                    "algorithm": "URDNA2015",
                    "format": "application/n-quads",
                    "documentLoader": loader or document_loader(),
                    "safe": True,
                },
            )
        )
    except jsonld.JsonLdError as error:
        raise ProofError(f"the document cannot be canonicalised: {error}") from error
    relative = _relative_iris(canonical)
    if relative:
        raise ProofError(f"terms the document's contexts do not define: {sorted(set(relative))}")
    return canonical


def _hash_data(
    unsecured: dict[str, Any], options: dict[str, Any], loader: FrozenDocumentLoader | None
) -> bytes:
    proof_config = {**options, "@context": unsecured["@context"]}
    return (
        hashlib.sha256(canonicalize(proof_config, loader).encode()).digest()
        + hashlib.sha256(canonicalize(unsecured, loader).encode()).digest()
    )


def proof_options(
    verification_method: str, created: str, proof_purpose: str = "assertionMethod"
) -> dict[str, Any]:
    return {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }


def sign(
    unsecured: dict[str, Any],
    key: Ed25519PrivateKey,
    options: dict[str, Any],
    loader: FrozenDocumentLoader | None = None,
) -> dict[str, Any]:
    """The document with a `proof` added (a copy; the input is left as it was)."""
    if "proof" in unsecured:
        raise ProofError("the document already has a proof")
    signature = key.sign(_hash_data(unsecured, options, loader))
    return {**copy.deepcopy(unsecured), "proof": {**options, "proofValue": multibase_encode(signature)}}


def verify(
    secured: dict[str, Any], public_key: Ed25519PublicKey, loader: FrozenDocumentLoader | None = None
) -> bool:
    """True when the proof is a valid eddsa-rdfc-2022 signature by `public_key` over the document."""
    proof = secured.get("proof")
    if (
        not isinstance(proof, dict)
        or proof.get("cryptosuite") != CRYPTOSUITE
        or proof.get("type") != PROOF_TYPE
    ):
        return False
    options = {name: value for name, value in proof.items() if name != "proofValue"}
    unsecured = {name: value for name, value in secured.items() if name != "proof"}
    try:
        signature = multibase_decode(str(proof.get("proofValue", "")))
        public_key.verify(signature, _hash_data(unsecured, options, loader))
    except (InvalidSignature, ProofError):
        return False
    return True
