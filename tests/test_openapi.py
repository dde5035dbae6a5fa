"""The OpenAPI document against the running server: schemathesis generates requests from it and checks
that every answer conforms (status codes, content types, response schemas) and that none is a 5xx."""

from __future__ import annotations

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from jepaworld.client import raw
from tests.serve_fixtures import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server}/openapi.json")


def test_generated_requests_conform_to_the_document(server, api_schema):
    """Every operation in the document, each with generated requests (valid and invalid by the schema)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    failures, calls = {}, []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def call(case):
            calls.append(case.call_and_validate(base_url=server, headers=AUTH).status_code)

        try:
            call()
        except Exception as failure:  # collect every operation's failure, then report them together
            failures[operation.label] = failure
    assert not failures, "\n\n".join(f"{label}: {failure}" for label, failure in failures.items())
    assert len(calls) >= 5 * len(operations), f"only {len(calls)} generated calls"


def test_real_answers_of_every_operation_match_their_schema(server, api_schema):
    """Schema-valid requests that succeed (generated data rarely does): each 2xx answer against its schema."""
    frame = raw(np.zeros((1, 64, 64, 3), np.uint8))
    two = raw(np.zeros((2, 64, 64, 3), np.uint8))
    small = {"samples": 10, "iterations": 2, "horizon": 4}
    calls = [
        ("/healthz", "GET", None),
        ("/v1/models", "GET", None),
        ("/v1/encode", "POST", {"model": "tiny", "frames": frame}),
        ("/v1/rollout", "POST", {"model": "tiny", "frames": frame, "actions": [[0.5, -0.5]], "decode": True}),
        ("/v1/plan", "POST", {"model": "tiny", "frame": frame, "goal": frame, "planner": small, "decode": True}),
        ("/v1/surprise", "POST", {"model": "tiny", "frames": two, "actions": [[0.0, 1.0]]}),
        ("/v1/episodes", "POST", {"model": "tiny", "seed": 1, "max_steps": 4}),
    ]
    response = None

    def check(path, method, body, **parts):
        with_body = {} if body is None else {"body": body}
        case = api_schema[path][method].Case(headers=AUTH, **with_body, **parts)
        response = case.call(base_url=server)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        case.validate_response(response)
        return response

    for path, method, body in calls:
        response = check(path, method, body)
    episode = {"episode_id": response.json()["episode"]}
    check("/v1/episodes/{episode_id}/plan", "POST", {"planner": small}, path_parameters=episode)
    check("/v1/episodes/{episode_id}/step", "POST", None, path_parameters=episode)
