"""`python -m localdev.run` in a subprocess on a fresh database, reached over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from localdev import demo
from localdev.lambda_runtime import REPO_ROOT
from localdev.tokens import TokenAuthority
from peer_badges import db as db_module
from peer_badges.settings import Settings

START_TIMEOUT_S = 120
# The demo history queues every mentor for evaluation; the tests time awards from an idle outbox.
BACKLOG_TIMEOUT_S = 180


@dataclass
class LocalApi:
    base_url: str
    database_url: str
    database: db_module.Database
    authority: TokenAuthority
    log_path: Path
    process: subprocess.Popen

    def token(self, sub: object) -> str:
        response = httpx.post(f"{self.base_url}/_local/token", json={"sub": str(sub)}, timeout=10)
        response.raise_for_status()
        return response.json()["access_token"]

    def client(self, sub: object) -> httpx.Client:
        """An HTTP client acting as the user `sub`."""
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token(sub)}"}, timeout=10
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, api_log: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(
        f"timed out after {timeout_s} s waiting for {what}; server log:\n{api_log()[-4000:]}"
    )


@pytest.fixture(scope="session")
def local_api(
    database_factory: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalApi]:
    url = database_factory()
    state = tmp_path_factory.mktemp("localdev")
    log_path = state / "server.log"
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "API_PORT": str(port),
        "LOCALDEV_DIR": str(state),
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localdev.run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    settings = Settings(database_url=url)
    database = db_module.Database(lambda: db_module.connect(db_module.params_from_url(url), settings))
    api = LocalApi(
        f"http://127.0.0.1:{port}", url, database, TokenAuthority.load_or_create(state), log_path, process
    )

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"localdev.run exited with {process.returncode}:\n{api.log()[-4000:]}")
        try:
            return httpx.get(f"{api.base_url}/_local/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def outbox_idle() -> bool:
        row = database.query_one(
            "SELECT count(*) AS n FROM evaluation_outbox WHERE status = 'pending' AND available_at <= now()"
        )
        return row is not None and row["n"] == 0

    try:
        _wait_until(ready, START_TIMEOUT_S, "the local API to answer", api.log)
        _wait_until(outbox_idle, BACKLOG_TIMEOUT_S, "the demo backlog to drain", api.log)
        yield api
    finally:
        database.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.fixture(scope="session")
def demo_orgs() -> dict[str, demo.DemoOrg]:
    return {org.spec.slug: org for org in demo.demo_orgs()}
