"""moto stand-ins for the AWS services the bundle talks to."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws


def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-north-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)


@dataclass
class Bus:
    """An EventBridge bus with a rule forwarding every peer-badges event to a subscriber's SQS queue."""

    client: Any
    sqs: Any
    queue_url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def messages(self) -> list[dict[str, Any]]:
        """Everything delivered to the subscriber's queue so far."""
        while batch := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            self.received.extend(json.loads(message["Body"]) for message in batch)
        return self.received

    def keys(self) -> Counter[tuple[str, str]]:
        return Counter((m["detail-type"], m["detail"]["idempotency_key"]) for m in self.messages())


@contextmanager
def moto_event_bus(monkeypatch: pytest.MonkeyPatch, bus_name: str) -> Iterator[Bus]:
    fake_credentials(monkeypatch)
    with mock_aws():
        client, sqs = boto3.client("events"), boto3.client("sqs")
        client.create_event_bus(Name=bus_name)
        queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        client.put_rule(
            Name="all-awards", EventBusName=bus_name, EventPattern=json.dumps({"source": ["peer-badges"]})
        )
        client.put_targets(
            Rule="all-awards", EventBusName=bus_name, Targets=[{"Id": "subscriber", "Arn": arn}]
        )
        yield Bus(client=client, sqs=sqs, queue_url=queue_url)


class ThrottledClient:
    """EventBridge refusing every call (PutEvents throttled), counting the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutEvents")


class CloudFormation:
    """The pre-signed response URL: records each PUT body."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        answers = self.answers

        class Receiver(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                answers.append(
                    {"content_type": self.headers["Content-Type"], **json.loads(self.rfile.read(length))}
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Receiver)
        self.url = f"http://127.0.0.1:{self.server.server_port}/response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
