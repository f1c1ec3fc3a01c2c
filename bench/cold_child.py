"""One cold start, run as a fresh process by the cold-start scenario (not imported by the bench).

    python bench/cold_child.py handler  '<event json>'   import get_stats.handler, answer one request
    python bench/cold_child.py baseline '<sql params json>'  import pg8000, connect, one PK lookup

The clock starts before the first import of the measured code, as in a Lambda init, and stops at
the first response; interpreter start-up is not counted (Lambda's runtime is already up). Prints one
JSON line: total, import and first-request milliseconds.
"""

import json
import sys
import time


class _Context:
    function_name = "get_stats"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:get_stats"
    aws_request_id = "cold-start"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _handler(event: dict) -> dict:
    started = time.perf_counter()
    from get_stats.handler import lambda_handler

    imported = time.perf_counter()
    reply = lambda_handler(event, _Context())
    done = time.perf_counter()
    if reply["statusCode"] != 200:
        raise SystemExit(f"get_stats answered {reply['statusCode']}: {reply.get('body')}")
    return {"total_ms": (done - started) * 1000, "import_ms": (imported - started) * 1000}


def _baseline(params: dict) -> dict:
    started = time.perf_counter()
    import pg8000.native

    imported = time.perf_counter()
    conn = pg8000.native.Connection(
        params["user"],
        password=params["password"],
        database=params["database"],
        host=params["host"] or "localhost",
        port=params["port"],
        unix_sock=params["unix_sock"],
        # As the layer connects (db.params_from_url): no TLS attempt on a Unix socket, where the
        # server never offers it; over TCP pg8000's default (try TLS) like the layer's sslmode=disable.
        ssl_context=False if params["unix_sock"] else None,
    )
    rows = conn.run(
        "SELECT * FROM mentor_stats WHERE org_id = :org_id AND peer_mentor_id = :mentor_id",
        org_id=params["org_id"],
        mentor_id=params["mentor_id"],
    )
    done = time.perf_counter()
    if len(rows) != 1:
        raise SystemExit("baseline lookup found no snapshot row")
    return {"total_ms": (done - started) * 1000, "import_ms": (imported - started) * 1000}


if __name__ == "__main__":
    mode, payload = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(_handler(payload) if mode == "handler" else _baseline(payload)))
