"""The explorer's examples are real requests: each one passes the model or validator its route uses.

A criteria type without an example fails here: add one entry to peer_badges.api_docs.CRITERIA_EXAMPLES.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from peer_badges import api_docs
from peer_badges.criteria.registry import KNOWN_TYPES, validate_criteria
from peer_badges.definitions import validate_draft
from peer_badges.models.awards import AwardRequest, EvaluationRequest, RevokeRequest
from peer_badges.models.definitions import BadgeDefinitionCreate, BadgeDefinitionPatch
from peer_badges.models.pauses import StreakPauseCreate
from peer_badges.models.payouts import CancelRequest, OrgSettingsPatch, PaidRequest


class ExampleOrg:
    """An organisation holding the badge the prerequisite examples name (no database in unit tests)."""

    ORG = uuid.uuid4()
    ROWS = [
        {
            "id": uuid.uuid4(),
            "key": "visits-tier",
            "criteria": {
                "type": "tier",
                "schema_version": 1,
                "tiers": [
                    {"name": "Bronze", "threshold": 5},
                    {"name": "Silver", "threshold": 25},
                    {"name": "Gold", "threshold": 100},
                ],
            },
        }
    ]

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.ROWS)

    def query_one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        return None


def check(body: Any) -> Any:
    return validate_draft(ExampleOrg(), ExampleOrg.ORG, body)


def test_every_criteria_type_has_an_example() -> None:
    covered = {document["type"] for _, document in api_docs.CRITERIA_EXAMPLES.values()}
    missing = set(KNOWN_TYPES) - covered
    assert not missing, f"add an example per type to peer_badges.api_docs.CRITERIA_EXAMPLES: {missing}"


@pytest.mark.parametrize("name", list(api_docs.CRITERIA_EXAMPLES))
def test_each_criteria_example_is_valid(name: str) -> None:
    summary, document = api_docs.CRITERIA_EXAMPLES[name]
    assert validate_criteria(document) == []
    # The menu line starts with the type it shows
    assert summary.startswith(document["type"] + ":")


def test_the_invalid_example_shows_several_problems_at_their_paths() -> None:
    result = check(api_docs.INVALID_CRITERIA)
    assert not result.valid
    paths = {problem.path for problem in result.problems}
    assert len(paths) >= 2 and any(path.startswith("tiers[1]") for path in paths), paths


@pytest.mark.parametrize(
    ("examples", "validate"),
    [
        (api_docs.validate_examples(), None),
        (api_docs.preview_examples(), None),
        (api_docs.definition_examples(), BadgeDefinitionCreate),
        (api_docs.PATCH_EXAMPLES, BadgeDefinitionPatch),
        (api_docs.AWARD_EXAMPLES, AwardRequest),
        (api_docs.REVOKE_EXAMPLES, RevokeRequest),
        (api_docs.EVALUATION_EXAMPLES, EvaluationRequest),
        (api_docs.PAID_EXAMPLES, PaidRequest),
        (api_docs.CANCEL_EXAMPLES, CancelRequest),
        (api_docs.SETTINGS_EXAMPLES, OrgSettingsPatch),
        (api_docs.PAUSE_EXAMPLES, StreakPauseCreate),
    ],
    ids=[
        "validate",
        "preview",
        "create",
        "patch",
        "award",
        "revoke",
        "evaluations",
        "paid",
        "cancel",
        "settings",
        "streak pause",
    ],
)
def test_every_body_example_is_accepted_by_its_route(
    examples: dict[str, tuple[str, Any]], validate: type[BaseModel] | None
) -> None:
    for name, (summary, body) in examples.items():
        assert summary and "\n" not in summary, name
        if validate is not None:
            validate.model_validate(body)
        elif name != "invalid":
            draft = {key: value for key, value in body.items() if key != "sample_size"}
            assert check(draft).valid, name


def test_new_definition_examples_have_distinct_keys() -> None:
    keys = [body["key"] for _, body in api_docs.definition_examples().values()]
    assert len(keys) == len(set(keys)) == len(api_docs.CRITERIA_EXAMPLES)
