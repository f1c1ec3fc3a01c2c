"""The local JWT authorizer stand-in accepts exactly what the HTTP API authorizer would."""

from __future__ import annotations

import stat
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev.tokens import (
    AUDIENCE,
    ISSUER,
    InvalidToken,
    TokenAuthority,
    bearer_token,
    event_claims,
    event_scopes,
)

SUB = "3f2b6c1e-8a4d-4e8f-9a51-2d7c0b9e1f00"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TokenAuthority:
    return TokenAuthority.load_or_create(tmp_path_factory.mktemp("keys"))


def test_a_minted_token_verifies_with_its_subject_issuer_and_audience(authority: TokenAuthority) -> None:
    # Given a token minted for a user
    token = authority.mint(SUB)
    # When it is verified
    claims = authority.verify(token)
    # Then the claims carry the user and the local issuer and audience
    assert claims["sub"] == SUB
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] > time.time()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


@pytest.mark.parametrize(
    "change",
    [
        {"audience": "someone-else"},
        {"issuer": "https://evil.example/"},
        {"ttl_s": -10},
    ],
    ids=["wrong audience", "wrong issuer", "expired"],
)
def test_tokens_the_authorizer_would_refuse_are_refused(authority: TokenAuthority, change: dict) -> None:
    # Given a correctly signed token with one claim wrong
    token = authority.mint(SUB, **change)
    # When / Then verification refuses it
    with pytest.raises(InvalidToken):
        authority.verify(token)


def test_a_token_signed_with_another_key_is_refused(authority: TokenAuthority) -> None:
    # Given a token with the right claims signed by a different key
    stranger = TokenAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    # When / Then it is refused
    with pytest.raises(InvalidToken):
        authority.verify(stranger.mint(SUB))


def test_unsigned_and_symmetric_tokens_are_refused(authority: TokenAuthority) -> None:
    # Given tokens that try the 'none' algorithm and HS256 (the classic algorithm-confusion attack)
    claims = {"sub": SUB, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    symmetric = jwt.encode(claims, key="a-shared-secret-long-enough-for-hmac-sha256", algorithm="HS256")
    # When / Then both are refused
    for token in (unsigned, symmetric, "not-a-jwt"):
        with pytest.raises(InvalidToken):
            authority.verify(token)


def test_a_token_without_expiry_is_refused(authority: TokenAuthority) -> None:
    # Given a signed token that never expires
    token = jwt.encode({"sub": SUB, "iss": ISSUER, "aud": AUDIENCE}, authority.private_key, algorithm="RS256")
    # When / Then it is refused
    with pytest.raises(InvalidToken):
        authority.verify(token)


def test_the_key_is_generated_once_private_and_never_committed(tmp_path: Path) -> None:
    # Given an empty state directory
    # When the authority is loaded twice
    first = TokenAuthority.load_or_create(tmp_path)
    second = TokenAuthority.load_or_create(tmp_path)
    # Then the same key is used, readable by the owner only, in a directory git ignores entirely
    assert second.verify(first.mint(SUB))["sub"] == SUB
    key_file = next(tmp_path.glob("*.pem"))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (tmp_path / ".gitignore").read_text().splitlines()[-1] == "*"


def test_the_public_key_is_published_as_a_jwk(authority: TokenAuthority) -> None:
    # Given the authority's JWK
    jwk = authority.public_jwk()
    # When a token is verified with it alone
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(authority.mint(SUB), key, algorithms=["RS256"], audience=AUDIENCE)
    # Then it verifies, and no private part is published
    assert claims["sub"] == SUB
    assert "d" not in jwk and jwk["kty"] == "RSA"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("Basic dXNlcjpwdw==", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
    ],
)
def test_the_bearer_token_is_taken_from_the_authorization_header(
    header: str | None, expected: str | None
) -> None:
    assert bearer_token(header) == expected


def test_claims_reach_the_event_as_strings_like_the_http_api_passes_them() -> None:
    # Given decoded claims of several JSON types
    claims = {"sub": str(uuid.uuid4()), "exp": 1700000000, "email_verified": True, "groups": ["a", "b"]}
    # When they are rendered for the event
    rendered = event_claims(claims)
    # Then every value is a string, lists in API Gateway's bracket form
    assert rendered == {
        "sub": claims["sub"],
        "exp": "1700000000",
        "email_verified": "true",
        "groups": "[a b]",
    }
    assert event_scopes({"scope": "read write"}) == ["read", "write"]
    assert event_scopes({}) is None
