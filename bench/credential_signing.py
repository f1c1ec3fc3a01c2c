"""Time to sign one Open Badges credential (canonicalise twice, hash, Ed25519), warm, in-process.

PYTHONPATH=layers/common .venv/bin/python -m bench.credential_signing [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, date, datetime

from peer_badges import credentials
from peer_badges.keys import new_keyring


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    runs = parser.parse_args().runs
    issuing = credentials.Issuing(urls=credentials.Urls("https://badges.example.org"), keyring=new_keyring())
    org = uuid.uuid4()
    badge = {
        "id": uuid.uuid4(),
        "org_id": org,
        "peer_mentor_id": uuid.uuid4(),
        "badge_definition_id": uuid.uuid4(),
        "level": 2,
        "earned_at": date(2025, 3, 3),
        "awarded_at": datetime.now(UTC),
        "criteria_snapshot": {
            "type": "tier",
            "schema_version": 1,
            "activity_types": ["assignment"],
            "tiers": [{"name": "Bronze", "threshold": 5}, {"name": "Silver", "threshold": 25}],
        },
        "name": "Oppdrag",
        "description": "",
        "icon": "https://cdn.example.org/star.svg",
        "icon_alt": "A gold star",
        "org_name": "Norges Handikapforbund",
        "timezone": "Europe/Oslo",
        "list_id": 0,
        "status_index": 42,
    }
    unsigned = credentials.unsigned_credential(issuing, badge)
    credentials.sign(issuing, org, unsigned, datetime.now(UTC))  # first call loads the contexts
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        credentials.sign(issuing, org, credentials.unsigned_credential(issuing, badge), datetime.now(UTC))
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    print(
        f"sign one credential, {runs} runs: median {statistics.median(timings):.2f} ms, "
        f"p95 {timings[int(runs * 0.95) - 1]:.2f} ms, min {timings[0]:.2f} ms"
    )


if __name__ == "__main__":
    main()
