"""Runs tests/verifier/verify.mjs: Digital Bazaar's VC 2.0 / Data Integrity / eddsa-rdfc-2022 /
Bitstring Status List implementation, installed from npm by `make verifier` (a `make test` step)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

VERIFIER_DIR = Path(__file__).resolve().parent / "verifier"


def verify(
    credentials: list[dict[str, Any]], documents: dict[str, Any], any_controller: bool = False
) -> list[dict[str, Any]]:
    """One result per credential: verified, signature_verified, revoked (None: no status), errors."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the independent verifier"
    assert (VERIFIER_DIR / "node_modules" / ".installed").exists(), (
        "the independent verifier is not installed: run `make verifier` (part of `make test`)"
    )
    completed = subprocess.run(
        [node, str(VERIFIER_DIR / "verify.mjs")],
        input=json.dumps(
            {"credentials": credentials, "documents": documents, "any_controller": any_controller}
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return results
