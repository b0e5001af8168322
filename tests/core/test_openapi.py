"""The published OpenAPI document names each answer's model once, so that a client generated
from it reads what each endpoint really returns."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from ninja import Schema

from bastion.api.root import api
from bastion.bulletin.api import BulletinOut
from bastion.city.api import FiguresOut
from bastion.delivery.api import DeliveryCoverageOut
from bastion.testing.api import RoundCoverageOut


def _answer_of(document: dict[str, Any], path: str) -> dict[str, Any]:
    """The model the document says `path` answers with (or a list of)."""
    schema = document["paths"][path]["get"]["responses"][200]["content"]["application/json"]["schema"]
    schema = schema.get("items", schema)
    return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]


def test_every_schema_of_the_api_has_a_name_of_its_own() -> None:
    names: dict[str, set[str]] = defaultdict(set)

    def walk(cls: type) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("bastion."):
                names[sub.__name__].add(f"{sub.__module__}.{sub.__qualname__}")
            walk(sub)

    walk(Schema)
    assert {name: where for name, where in names.items() if len(where) > 1} == {}


def test_the_document_describes_what_each_endpoint_returns() -> None:
    document = api.get_openapi_schema()
    for path, model in (
        ("/api/v1/city/figures", FiguresOut),
        ("/api/v1/bulletin/", BulletinOut),
        ("/api/v1/delivery/coverage", DeliveryCoverageOut),
        ("/api/v1/testing/rounds/{code}/coverage", RoundCoverageOut),
    ):
        answer = _answer_of(document, path)
        assert set(model.model_fields) <= set(answer["properties"]), path


def test_every_operation_documents_the_refusals_it_may_answer_in_the_one_error_shape() -> None:
    document = json.loads(json.dumps(api.get_openapi_schema()))  # as a client reads it
    error = {"$ref": "#/components/schemas/ErrorOut"}
    assert set(document["components"]["schemas"]["ErrorOut"]["required"]) == {"code", "message"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            wanted = {"401", "403", "404", "422"} | ({"400", "409"} if method != "get" else set())
            assert wanted <= set(responses), (method, path)
            for status in wanted - {"422"}:
                assert responses[status]["content"]["application/json"]["schema"] == error
    # A refused file keeps its own model: the problems by row and column.
    upload = document["paths"]["/api/v1/city/registry/import"]["post"]["responses"]["422"]
    assert upload["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/FileRejectedOut"}
