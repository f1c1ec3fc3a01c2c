"""The credential keyring: Ed25519 signing keys (current last) and the identity-hash salt.

In AWS the keyring is one Secrets Manager secret (JSON, read through Powertools Parameters with a
cache age); locally it is a git-ignored file that `make run` creates on first start. Rotation appends
a key: the newest signs, and every key stays listed on the issuer profiles, so credentials signed
with an older key keep verifying. Removing a key from the keyring is how a compromised key is
retired (its credentials then fail verification, as they should).

    python -m peer_badges.keys init FILE      # create FILE with one key (no-op when it exists)
    python -m peer_badges.keys rotate FILE    # append a new current key to FILE
    python -m peer_badges.keys rotate -       # the same for a keyring JSON on stdin (AWS secret)
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, field_validator

from peer_badges.data_integrity import (
    ProofError,
    private_key_from_multibase,
    public_key_multibase,
    secret_key_multibase,
)
from peer_badges.errors import ServiceUnavailable
from peer_badges.settings import Settings

MAX_KEYS = 20


class KeyringUnavailable(ServiceUnavailable):
    code = "credential_keys_unavailable"


class SigningKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    secret_key_multibase: str = Field(repr=False)
    created_at: datetime

    @field_validator("secret_key_multibase")
    @classmethod
    def _is_ed25519(cls, value: str) -> str:
        try:
            private_key_from_multibase(value)
        except (ProofError, ValueError) as error:
            raise ValueError(f"not an Ed25519 secret key in Multikey form: {error}") from None
        return value

    @cached_property
    def private_key(self) -> Ed25519PrivateKey:
        return private_key_from_multibase(self.secret_key_multibase)

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @cached_property
    def public_key_multibase(self) -> str:
        return public_key_multibase(self.public_key)


class Keyring(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: list[SigningKey] = Field(min_length=1, max_length=MAX_KEYS)
    # Hashes mentor ids into credential identifiers; never published, never rotated (a new salt
    # would give every mentor a new identifier in credentials issued from then on).
    identity_salt: str = Field(min_length=32, repr=False)

    @field_validator("keys")
    @classmethod
    def _unique_ids(cls, keys: list[SigningKey]) -> list[SigningKey]:
        ids = [key.id for key in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("key ids must be unique")
        return keys

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def find(self, key_id: str) -> SigningKey | None:
        return next((key for key in self.keys if key.id == key_id), None)

    def rotated(self, now: datetime | None = None) -> Keyring:
        return self.model_copy(update={"keys": [*self.keys, new_signing_key(now)][-MAX_KEYS:]})


def new_signing_key(now: datetime | None = None) -> SigningKey:
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    return SigningKey(
        id=f"{created:%Y%m%d}-{secrets.token_hex(4)}",
        secret_key_multibase=secret_key_multibase(Ed25519PrivateKey.generate()),
        created_at=created,
    )


def new_keyring() -> Keyring:
    return Keyring(keys=[new_signing_key()], identity_salt=secrets.token_hex(32))


def ensure_local_keyring(path: Path) -> Keyring:
    """Read the local keyring file, creating it (owner-readable only) on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        keyring = new_keyring()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(keyring.model_dump_json(indent=2))
        return keyring
    return Keyring.model_validate_json(path.read_text())


def load_keyring(settings: Settings) -> Keyring:
    """The keyring from Secrets Manager (cached for `secret_max_age_s`) or from the local file."""
    unavailable = "The credential signing keys cannot be read; retry shortly."
    if settings.credential_keys_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        try:
            secret = parameters.get_secret(
                settings.credential_keys_secret_arn, transform="json", max_age=settings.secret_max_age_s
            )
            return Keyring.model_validate(secret)
        except (parameters.GetParameterError, parameters.TransformParameterError, ValueError) as error:
            raise KeyringUnavailable(unavailable) from error
    if settings.credential_keys_file:
        try:
            return Keyring.model_validate_json(Path(settings.credential_keys_file).read_text())
        except (OSError, ValueError) as error:
            raise KeyringUnavailable(unavailable) from error
    raise KeyringUnavailable(
        "Credential signing keys are not configured: set CREDENTIAL_KEYS_SECRET_ARN (AWS) or "
        "CREDENTIAL_KEYS_FILE (local)."
    )


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peer_badges.keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["init", "rotate"])
    parser.add_argument("file", help="keyring file, or - for stdin to stdout (rotate only)")
    args = parser.parse_args(argv)
    if args.command == "init":
        keyring = ensure_local_keyring(Path(args.file))
        print(f"{args.file}: current key {keyring.current.id}", file=sys.stderr)
        return 0
    if args.file == "-":
        print(Keyring.model_validate_json(sys.stdin.read()).rotated().model_dump_json(indent=2))
        return 0
    path = Path(args.file)
    rotated = Keyring.model_validate_json(path.read_text()).rotated()
    path.write_text(rotated.model_dump_json(indent=2))
    print(f"{args.file}: current key {rotated.current.id} ({len(rotated.keys)} keys)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
