"""Local stand-in for the HTTP API's JWT authorizer: an RS256 key pair, token minting and verification.

The checks mirror what API Gateway's JWT authorizer does before a request reaches a function:
signature (RS256 only, against the one local key), issuer, audience, expiry and not-before.
The key pair is generated once into the local state directory (`.localdev/` by default), which
carries its own `.gitignore` so nothing in it can be committed.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://auth.peer-badges.local/"
AUDIENCE = "peer-badges-local"
TOKEN_TTL_S = 3600
KEY_ID = "local-1"
_PRIVATE_KEY_FILE = "jwt-private-key.pem"
REPO_ROOT = Path(__file__).resolve().parents[1]


class InvalidToken(Exception):
    """The token would be refused by the authorizer; the message says why (for logs, not clients)."""


def state_dir() -> Path:
    """Where local-only state (the signing key) lives: LOCALDEV_DIR, or `.localdev/` in the repository."""
    return _prepared(Path(os.environ.get("LOCALDEV_DIR") or REPO_ROOT / ".localdev"))


def _prepared(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Local-only state (signing keys); never committed.\n*\n", encoding="utf-8")
    return directory


@dataclass(frozen=True)
class TokenAuthority:
    private_key: rsa.RSAPrivateKey
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> TokenAuthority:
        """Load the local signing key, generating it on first use (readable by the owner only)."""
        path = (_prepared(directory) if directory else state_dir()) / _PRIVATE_KEY_FILE
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{path} does not hold an RSA private key; delete it to get a new one")
            return cls(key)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # O_EXCL: when two processes start at once, the loser reads the winner's key instead.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            time.sleep(0.2)
            return cls.load_or_create(path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return cls(key)

    def public_jwk(self) -> dict[str, Any]:
        """The verification key as a JWKS entry (what an identity provider publishes)."""
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256"}

    def mint(
        self,
        sub: str,
        *,
        ttl_s: int = TOKEN_TTL_S,
        now: float | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "sub": sub,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_s,
            "jti": str(uuid.uuid4()),
            "token_use": "access",
            **(extra_claims or {}),
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": KEY_ID})

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims if the authorizer would accept it; InvalidToken otherwise."""
        try:
            return jwt.decode(
                token,
                self.private_key.public_key(),
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from error


def bearer_token(authorization: str | None) -> str | None:
    """The token from an `Authorization: Bearer <jwt>` header (scheme case-insensitive, as API Gateway)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def event_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as the HTTP API authorizer puts them in the event: every value a string, lists as `[a b]`."""
    rendered: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            rendered[name] = "[" + " ".join(str(item) for item in value) + "]"
        elif isinstance(value, bool):
            rendered[name] = "true" if value else "false"
        else:
            rendered[name] = str(value)
    return rendered


def event_scopes(claims: dict[str, Any]) -> list[str] | None:
    scope = claims.get("scope") or claims.get("scp")
    if isinstance(scope, str) and scope.strip():
        return scope.split()
    if isinstance(scope, list) and scope:
        return [str(item) for item in scope]
    return None
