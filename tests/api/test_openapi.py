"""The OpenAPI document is generated from the routes and their models, and
covers every route under /api/v1."""
import re


def test_every_api_route_is_in_the_openapi_document(app, api):
    response = api("/openapi.json")  # public: it describes, it opens nothing
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, operations in document["paths"].items() for method in operations}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            routes |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes and routes <= documented, routes - documented
    listing = document["paths"]["/api/v1/employees"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "cursor", "q", "sort"}
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000  # the same model that refuses limit=1001
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]  # every operation needs a token ...
    assert document["paths"]["/api/v1/openapi.json"]["get"]["security"] == []  # ... but this document


def test_every_operation_is_in_a_described_group(api):
    """The documentation page groups the operations by their tags: none is
    left in Swagger UI's nameless "default", and each group says what it is for."""
    document = api("/openapi.json").json()
    described = {tag["name"] for tag in document.get("tags", []) if tag.get("description")}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("tags") and set(operation["tags"]) <= described, (method, path)
