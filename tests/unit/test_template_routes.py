"""The route table read from template.yaml is the SPEC's, and routes requests like API Gateway."""

from __future__ import annotations

import pytest

from localdev.template_routes import Route, allowed_methods, function_for, load_template, routes, schedules

SPEC_ROUTES = {
    ("GET", "/orgs/{org_id}/mentors/{mentor_id}/stats"): "get_stats",
    ("GET", "/orgs/{org_id}/mentors/{mentor_id}/milestones"): "get_stats",
    ("GET", "/orgs/{org_id}/mentor-stats"): "get_stats",
    ("GET", "/orgs/{org_id}/mentors/{mentor_id}/badges"): "award_badge",
    ("POST", "/orgs/{org_id}/mentors/{mentor_id}/badges"): "award_badge",
    ("POST", "/orgs/{org_id}/mentors/{mentor_id}/badges/{earned_badge_id}/revoke"): "award_badge",
    ("GET", "/orgs/{org_id}/badge-definitions"): "config_crud",
    ("POST", "/orgs/{org_id}/badge-definitions"): "config_crud",
    ("GET", "/orgs/{org_id}/badge-definitions/{definition_id}"): "config_crud",
    ("PATCH", "/orgs/{org_id}/badge-definitions/{definition_id}"): "config_crud",
    ("DELETE", "/orgs/{org_id}/badge-definitions/{definition_id}"): "config_crud",
    ("POST", "/orgs/{org_id}/badge-definitions/{definition_id}/archive"): "config_crud",
    ("POST", "/orgs/{org_id}/badge-definitions/{definition_id}/unarchive"): "config_crud",
    ("POST", "/orgs/{org_id}/badge-definitions/validate"): "config_crud",
    ("POST", "/orgs/{org_id}/badge-definitions/preview"): "config_crud",
    ("POST", "/orgs/{org_id}/evaluations"): "evaluate_badges",
    ("GET", "/orgs/{org_id}/payouts"): "award_badge",
    ("GET", "/orgs/{org_id}/payouts/export"): "award_badge",
    ("POST", "/orgs/{org_id}/payouts/{payout_id}/approve"): "award_badge",
    ("POST", "/orgs/{org_id}/payouts/{payout_id}/paid"): "award_badge",
    ("POST", "/orgs/{org_id}/payouts/{payout_id}/cancel"): "award_badge",
    ("GET", "/orgs/{org_id}/mentors/{mentor_id}/data-export"): "award_badge",
    ("POST", "/orgs/{org_id}/mentors/{mentor_id}/erasure"): "award_badge",
    ("GET", "/orgs/{org_id}/settings"): "config_crud",
    ("PATCH", "/orgs/{org_id}/settings"): "config_crud",
    ("GET", "/orgs/{org_id}/streak-pauses"): "config_crud",
    ("POST", "/orgs/{org_id}/streak-pauses"): "config_crud",
    ("DELETE", "/orgs/{org_id}/streak-pauses/{pause_id}"): "config_crud",
    ("GET", "/orgs/{org_id}/mentors/{mentor_id}/badges/{earned_badge_id}/credential"): "award_badge",
    # SPEC 8.6: public, no authorizer.
    ("GET", "/orgs/{org_id}/issuer"): "award_badge",
    ("GET", "/orgs/{org_id}/badge-definitions/{definition_id}/achievement"): "award_badge",
    ("GET", "/orgs/{org_id}/credential-status/{list_id}"): "award_badge",
}
PUBLIC_ROUTES = {
    ("GET", "/orgs/{org_id}/issuer"),
    ("GET", "/orgs/{org_id}/badge-definitions/{definition_id}/achievement"),
    ("GET", "/orgs/{org_id}/credential-status/{list_id}"),
}

LOGICAL_IDS = {
    "get_stats": "GetStatsFunction",
    "award_badge": "AwardBadgeFunction",
    "config_crud": "ConfigCrudFunction",
    "evaluate_badges": "EvaluateBadgesFunction",
}

ORG = "6f1c2a52-0d51-4a57-9a3c-3f7f0c1b8e01"
MENTOR = "0b9d7f3e-8e44-4d0a-bb1f-6f6a9f1d2c11"


def test_the_template_serves_exactly_the_spec_routes_each_on_its_function():
    table = {(route.method, route.path): route for route in routes()}

    assert set(table) == set(SPEC_ROUTES)
    for key, name in SPEC_ROUTES.items():
        route = table[key]
        assert route.function_logical_id == LOGICAL_IDS[name], key
        assert route.public == (key in PUBLIC_ROUTES), key
        assert route.handler == f"{name}.handler.lambda_handler", key
        assert route.code_uri.rstrip("/") == f"functions/{name}", key


def test_no_route_is_declared_twice():
    keys = [(route.method, route.path) for route in routes()]

    assert len(keys) == len(set(keys))


def test_the_local_only_routes_never_reach_the_template():
    assert not [route for route in routes() if route.path.startswith("/_local")]
    assert function_for("POST", "/_local/token") is None


def test_evaluate_badges_drains_every_minute_keeps_house_hourly_and_reconciles_daily():
    by_action = {schedule.input["action"]: schedule for schedule in schedules()}

    assert set(by_action) == {"drain", "reconcile", "housekeeping"}
    assert by_action["drain"].expression == "rate(1 minute)"
    assert by_action["housekeeping"].expression == "cron(5 * * * ? *)"
    assert by_action["reconcile"].expression.startswith("cron(")
    assert {schedule.function_logical_id for schedule in by_action.values()} == {"EvaluateBadgesFunction"}


def test_a_request_is_routed_with_its_path_parameters():
    match = function_for("get", f"/orgs/{ORG}/mentors/{MENTOR}/stats?fresh=1")

    assert match is not None
    assert match.route.function_logical_id == "GetStatsFunction"
    assert match.path_parameters == {"org_id": ORG, "mentor_id": MENTOR}


def test_the_method_selects_among_routes_on_one_path():
    get = function_for("GET", f"/orgs/{ORG}/mentors/{MENTOR}/badges")
    post = function_for("POST", f"/orgs/{ORG}/mentors/{MENTOR}/badges")

    assert get is not None and post is not None
    assert get.route.method == "GET" and post.route.method == "POST"


def test_a_literal_segment_wins_over_a_parameter_like_api_gateway():
    table = [
        Route("POST", "/orgs/{org_id}/badge-definitions/{definition_id}", "Param", "p.h", "p/"),
        Route("POST", "/orgs/{org_id}/badge-definitions/validate", "Literal", "l.h", "l/"),
    ]

    match = function_for("POST", f"/orgs/{ORG}/badge-definitions/validate", table)

    assert match is not None
    assert match.route.function_logical_id == "Literal"
    assert match.path_parameters == {"org_id": ORG}


def test_a_parameter_still_matches_any_other_segment():
    match = function_for("GET", f"/orgs/{ORG}/badge-definitions/validate")

    assert match is not None
    assert match.path_parameters == {"org_id": ORG, "definition_id": "validate"}


def test_an_any_route_accepts_every_method():
    table = [Route("ANY", "/things/{id}", "Any", "a.h", "a/")]

    match = function_for("DELETE", "/things/1", table)

    assert match is not None and match.route.function_logical_id == "Any"


@pytest.mark.parametrize(
    "path",
    [
        f"/orgs/{ORG}/mentors/{MENTOR}",
        f"/orgs/{ORG}/mentors/{MENTOR}/stats/extra",
        f"/orgs/{ORG}/mentors//stats",
        f"/orgs/{ORG}/mentor-stats/",
        "/",
    ],
)
def test_paths_without_a_route_match_nothing(path):
    assert function_for("GET", path) is None
    assert allowed_methods(path) == set()


def test_a_path_with_routes_for_other_methods_tells_which_are_allowed():
    path = f"/orgs/{ORG}/badge-definitions/{MENTOR}"

    assert function_for("POST", path) is None
    assert allowed_methods(path) == {"GET", "PATCH", "DELETE"}


def test_short_form_intrinsics_are_read_as_their_long_form():
    template = load_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    api = template["Resources"]["HttpApi"]["Properties"]

    assert variables["EVENT_BUS_NAME"] == {"Ref": "EventBus"}
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    assert template["Resources"]["EventBus"]["Properties"]["Name"] == {"Fn::Sub": "peer-badges-${Stage}"}
