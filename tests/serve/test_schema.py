"""The OpenAPI document says what the API answers: every status, content type and error body,
checked by reading it and by a bounded Schemathesis run against the live server."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import run_schemathesis
from toontag.serve.app import create_app

EXAMPLES = 25  # per operation and generation phase: a bounded run (about a minute on 2 cores)
# What valid input may get besides a 2xx: 400 for a query naming no character (a grammar the
# schema cannot express), 404 for an id not in the index, 416 for a range past the end.
SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "404", "416"]
"""
ERROR_CODES = {
    "/api/search": {400, 422},
    "/api/videos/{video_id}": {400, 404, 409, 422},
    "/api/videos/{video_id}/timeline": {400, 404, 409, 422},
    "/api/videos/{video_id}/file": {400, 404, 409, 416, 422},
    "/api/videos/{video_id}/thumbnail": {400, 404, 409, 422},
}
CONTENT = {
    "/api/videos/{video_id}/file": {"video/mp4", "video/webm", "video/x-matroska"},
    "/api/videos/{video_id}/thumbnail": {"image/jpeg"},
    "/api/videos/{video_id}/timeline": {
        "text/vtt",
        "application/x-subrip",
        "text/csv",
        "text/plain",
        "application/xml",
    },
}
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def test_openapi_declares_every_status_and_content_type(served):
    document = create_app(served).openapi()
    assert document["components"]["schemas"]["Problem"]["required"] == ["detail"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, codes in ERROR_CODES.items():
        responses = document["paths"][path]["get"]["responses"]
        assert codes <= {int(code) for code in responses}, path
        for code in codes:
            assert responses[str(code)]["content"] == {"application/json": {"schema": PROBLEM}}
    for path, types in CONTENT.items():
        ok = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert types <= set(ok) and "application/json" not in ok, path
    partial = document["paths"]["/api/videos/{video_id}/file"]["get"]["responses"]["206"]
    assert "Content-Range" in partial["headers"] and "video/mp4" in partial["content"]


def test_a_guarded_app_documents_its_token(served):
    document = create_app(served, token="t" * 20).openapi()
    assert {"HTTPBearer", "APIKeyCookie"} <= set(document["components"]["securitySchemes"])
    assert "401" in document["paths"]["/api/videos"]["get"]["responses"]


def test_the_live_api_answers_as_its_schema_says(server, tmp_path):
    """Schemathesis's own command, every check, a fixed seed and number of examples; its
    report must count no failure and no error."""
    host, port = server
    run, summary = run_schemathesis(
        host, port, config=SCHEMATHESIS_CONFIG, examples=EXAMPLES, folder=tmp_path
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert summary["operations"]["tested"] == summary["operations"]["total"] == 7
    assert summary["test_cases"]["generated"] > 7 * EXAMPLES
    assert (summary["test_cases"]["with_failures"], summary["test_cases"]["errored"]) == (0, 0)
    assert summary["failures"] == [] and summary["errors"] == []


def test_an_integer_in_a_url_is_written_in_digits(served):
    """What the document calls an integer: '+1.0' or '1e0' is a string there, refused."""
    client = TestClient(create_app(served), base_url="http://localhost")
    for bad in ["/api/videos/%2B1.0", "/api/videos/1e0", "/api/search?q=remzi&limit=%2B5"]:
        assert client.get(bad).status_code == 422, bad
    assert client.get("/api/videos/1").status_code == 200
    assert client.get("/api/search?q=remzi&limit=5").status_code == 200
