"""The labelling API's OpenAPI document says what it answers, checked by a bounded Schemathesis
run against the live server (as tests/serve/test_schema.py does for the search API)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import run_schemathesis
from tests.labelling.conftest import make_project
from toontag.data.names import MAX_NAME, NAME_PATTERN
from toontag.serve.labelling import create_label_app
from toontag.serve.local import running

EXAMPLES = 25  # per operation and generation phase: a bounded run
# What valid input may get besides a 2xx: 404 for a frame id past the pool, 409 for an undo with
# nothing to undo or a character named twice; and an answer alone 422 for a label naming no
# character (the set of characters changes as the API is used: no schema can list it).
SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "409"]

[[operations]]
include-path = "/api/answers"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]
"""
ERROR_CODES = {
    ("get", "/api/next"): {400, 422},
    ("get", "/api/frames/{frame}"): {400, 404, 422},
    ("get", "/api/frames/{frame}/image"): {400, 404, 422},
    ("post", "/api/answers"): {400, 403, 404, 422, 503},
    ("post", "/api/undo"): {400, 403, 404, 409, 422, 503},
    ("post", "/api/classes"): {400, 403, 409, 422, 503},
}
PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def project(dataset, tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("schema"), dataset, frames=24)[0]


def test_openapi_declares_every_error_as_a_problem(project):
    app = create_label_app(project)
    try:
        document = app.openapi()
    finally:
        app.state.close()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for (method, path), codes in ERROR_CODES.items():
        responses = document["paths"][path][method]["responses"]
        assert codes <= {int(code) for code in responses}, path
        for code in codes:
            assert responses[str(code)]["content"] == {"application/json": {"schema": PROBLEM}}
    image = document["paths"]["/api/frames/{frame}/image"]["get"]["responses"]["200"]
    assert list(image["content"]) == ["image/jpeg"]


def test_the_live_api_answers_as_its_schema_says(project, tmp_path):
    app = create_label_app(project)
    with running(app) as (host, port):
        run, summary = run_schemathesis(
            host, port, config=SCHEMATHESIS_CONFIG, examples=EXAMPLES, folder=tmp_path
        )
    app.state.close()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert summary["operations"]["tested"] == summary["operations"]["total"] == 7
    assert (summary["test_cases"]["with_failures"], summary["test_cases"]["errored"]) == (0, 0)
    assert summary["failures"] == [] and summary["errors"] == []


def test_the_document_says_what_the_checks_do(project):
    app = create_label_app(project)
    try:
        document = app.openapi()
        client = TestClient(app, base_url="http://localhost")
        whole = client.post("/api/undo", json={"frame": 0.0})  # an integer, to JSON Schema
        halves = [client.post("/api/undo", json={"frame": bad}) for bad in (0.5, True, "0")]
        halves.append(client.get("/api/frames/%2B0.0"))  # a string where the path has an integer
        undecodable = client.post(
            "/api/classes",
            content=b'{"name": "\xff"}',
            headers={"content-type": "application/json"},
        )
    finally:
        app.state.close()
    schemas = document["components"]["schemas"]
    name = schemas["ClassIn"]["properties"]["name"]
    assert name["pattern"] == rf"^\s*{NAME_PATTERN}\s*$" and "maxLength" not in name
    labels = schemas["AnswerIn"]["properties"]["labels"]
    assert labels["items"]["maxLength"] == MAX_NAME and labels["uniqueItems"] is True
    assert whole.status_code == 409 and all(r.status_code == 422 for r in halves)
    assert undecodable.status_code == 400 and set(undecodable.json()) == {"detail"}
    described = document["paths"]["/api/classes"]["post"]["responses"]["400"]["description"]
    assert "JSON" in described and "toontag label serve --allowed-host" in described
    assert "413" in document["paths"]["/api/answers"]["post"]["responses"]
