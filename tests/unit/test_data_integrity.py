"""eddsa-rdfc-2022: the W3C vc-di-eddsa test vectors as golden tests, and the guards around signing."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from peer_badges import data_integrity as di
from tests.independent_verifier import verify as independent_verify

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "eddsa-rdfc-2022"
EXAMPLES_CONTEXT = "https://www.w3.org/ns/credentials/examples/v2"
LOADER = di.document_loader(((EXAMPLES_CONTEXT, VECTORS / "examples-v2-context.jsonld"),))


def vector(name: str) -> Any:
    text = (VECTORS / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith((".json", ".jsonld")) else text


def test_the_vector_key_pair_round_trips_through_multikey():
    pair = vector("key-pair.json")

    key = di.private_key_from_multibase(pair["secretKeyMultibase"])

    assert di.public_key_multibase(key.public_key()) == pair["publicKeyMultibase"]
    assert di.secret_key_multibase(key) == pair["secretKeyMultibase"]


def test_the_vector_document_canonicalises_to_the_published_n_quads():
    canonical = di.canonicalize(vector("unsigned.json"), LOADER)

    assert canonical == vector("canonical-document.nq")
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "517744132ae165a5349155bef0bb0cf2258fff99dfe1dbd914b938d775a36017"
    )


def test_the_vector_proof_options_canonicalise_to_the_published_n_quads():
    document = vector("unsigned.json")

    canonical = di.canonicalize({**vector("proof-options.json"), "@context": document["@context"]}, LOADER)

    assert canonical == vector("canonical-proof-options.nq")
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "bea7b7acfbad0126b135104024a5f1733e705108f42d59668b05c0c50004c6b0"
    )


def test_signing_the_vector_gives_the_published_proof_value():
    key = di.private_key_from_multibase(vector("key-pair.json")["secretKeyMultibase"])

    signed = di.sign(vector("unsigned.json"), key, vector("proof-options.json"), LOADER)

    assert signed["proof"]["proofValue"] == (
        "z2YwC8z3ap7yx1nZYCg4L3j3ApHsF8kgPdSb5xoS1VR7vPG3F561B52hYnQF9iseabecm3ijx4K1FBTQsCZahKZme"
    )
    assert signed == vector("signed.json")


def test_the_vector_verifies_and_a_changed_copy_does_not():
    public_key = di.public_key_from_multibase(vector("key-pair.json")["publicKeyMultibase"])
    signed = vector("signed.json")
    changed = copy.deepcopy(signed)
    changed["credentialSubject"]["alumniOf"] = "Another School"

    assert di.verify(signed, public_key, LOADER)
    assert not di.verify(changed, public_key, LOADER)
    assert not di.verify({**signed, "proof": {**signed["proof"], "proofValue": "z1"}}, public_key, LOADER)


def test_the_independent_verifier_accepts_the_vector_and_refuses_a_changed_copy():
    signed = vector("signed.json")
    changed = copy.deepcopy(signed)
    changed["validFrom"] = "2023-01-02T00:00:00Z"
    did_document = vector("did-key-document.json")
    documents = {did_document["id"]: did_document, EXAMPLES_CONTEXT: vector("examples-v2-context.jsonld")}

    # The vector's issuer is not its key's controller, so only the proof itself is checked.
    accepted, refused = independent_verify([signed, changed], documents, any_controller=True)

    assert accepted["verified"] and accepted["signature_verified"], accepted
    assert not refused["verified"] and not refused["signature_verified"], refused


def test_a_term_no_context_defines_is_refused_instead_of_silently_left_unsigned():
    document = {**vector("unsigned.json"), "@context": [di.VC_V2_CONTEXT]}  # no examples context
    key = Ed25519PrivateKey.generate()

    with pytest.raises(di.ProofError, match="alumniOf|AlumniCredential"):
        di.sign(document, key, vector("proof-options.json"))


def test_a_context_that_is_not_shipped_is_never_fetched():
    document = {**vector("unsigned.json"), "@context": [di.VC_V2_CONTEXT, "https://example.org/ctx.jsonld"]}

    with pytest.raises(di.ProofError, match="cannot be canonicalised"):
        di.canonicalize(document)


def test_the_shipped_contexts_match_the_independent_verifiers_copies():
    # The verifier loads its own npm context packages; ours must be the same documents.
    modules = VECTORS.parents[1] / "verifier" / "node_modules"
    theirs = {
        di.VC_V2_CONTEXT: modules / "@digitalbazaar/credentials-context/contexts/v2.jsonld",
        di.MULTIKEY_CONTEXT: modules / "@digitalbazaar/multikey-context/contexts/multikey-v1.jsonld",
        di.DATA_INTEGRITY_CONTEXT: modules
        / "@digitalbazaar/data-integrity-context/contexts/data-integrity-v2.jsonld",
        di.DID_V1_CONTEXT: modules / "did-context/contexts/did-v1.jsonld",
    }
    for url, path in theirs.items():
        assert json.loads(di.SHIPPED_CONTEXTS[url].read_text()) == json.loads(path.read_text()), url


@pytest.mark.parametrize("data", [b"", b"\0", b"\0\0\x01", b"hello", bytes(range(256))])
def test_base58btc_round_trips(data: bytes):
    assert di.base58btc_decode(di.base58btc_encode(data)) == data
