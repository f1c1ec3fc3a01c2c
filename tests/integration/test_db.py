"""The connection wrapper: client-side parameter errors and timeouts leave a usable connection."""

from __future__ import annotations

import pytest

from peer_badges.db import Database
from peer_badges.errors import ServiceUnavailable


def _pid(db: Database) -> int:
    row = db.query_one("SELECT pg_backend_pid() AS pid")
    assert row is not None
    return int(row["pid"])


def test_a_parameter_that_cannot_be_encoded_leaves_nothing_half_sent(db: Database) -> None:
    # Given a statement whose parameter cannot be encoded (a lone surrogate)
    with pytest.raises(UnicodeEncodeError):
        db.query("SELECT CAST(:v AS text) AS v", v="\ud800")
    # Then the next statements, alone and in a transaction, get their own answers
    assert db.query_one("SELECT CAST(:v AS int) + 1 AS v", v=41) == {"v": 42}
    with db.transaction() as tx:
        assert tx.query_one("SELECT CAST(:v AS text) AS v", v="ok") == {"v": "ok"}


def test_a_statement_timeout_in_a_transaction_is_a_503_and_keeps_the_connection(db: Database) -> None:
    pid = _pid(db)
    with pytest.raises(ServiceUnavailable), db.transaction() as tx:
        tx.query("SET LOCAL statement_timeout = 50")
        tx.query("SELECT pg_sleep(1)")
    # The connection was healthy: rolled back and reused, not replaced
    assert _pid(db) == pid
    assert db.query_one("SELECT 1 AS one") == {"one": 1}


def test_a_rolled_back_transaction_answers_everything_and_keeps_nothing(db: Database) -> None:
    # A dry run: the block sees its own writes, and nothing is left after it
    with db.transaction(rollback=True) as tx:
        tx.query("CREATE TEMP TABLE dry (n int) ON COMMIT DROP")
        tx.query("INSERT INTO dry VALUES (1), (2)")
        assert tx.query_one("SELECT count(*) AS n FROM dry") == {"n": 2}
    assert db.query_one("SELECT to_regclass('pg_temp.dry') IS NULL AS gone") == {"gone": True}
    # ... and the connection goes on with the next transaction, which commits
    with db.transaction() as tx:
        assert tx.query_one("SELECT 1 AS one") == {"one": 1}
