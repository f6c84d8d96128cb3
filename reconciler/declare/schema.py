"""JSON Schema of the declared format: generated from the models, checked with jsonschema.

Validation uses ``iter_errors`` so every problem in a file is reported, and each error is
mapped back through its JSON path to the line and column the loader recorded.  Declared
values are quoted in messages through ``characters.quoted``: escaped and shortened.

Rule S006 (no control characters in text) is registered here with the other rules on
values, but checked by the reference loader, which sees the characters where they stand.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic.json_schema import GenerateJsonSchema

from reconciler.declare.characters import CONTROL_RULE, S_CONTROL, as_text, quote_hint, quoted, shown
from reconciler.declare.diagnostics import Diagnostic
from reconciler.declare.model import EnterpriseDocument
from reconciler.declare.source import SourceDocument

SCHEMA_ID = "https://reconciler.example/schemas/enterprise.schema.json"

S_UNKNOWN_FIELD = "S001"
S_MISSING_FIELD = "S002"
S_WRONG_TYPE = "S003"
S_BAD_VALUE = "S004"
S_REPEATED = "S005"

SCHEMA_RULES = {
    S_UNKNOWN_FIELD: "every field is one the format defines",
    S_MISSING_FIELD: "required fields are present",
    S_WRONG_TYPE: "values have the expected type; numbers and booleans where text is expected must be quoted",
    S_BAD_VALUE: "values are allowed by the catalogue and match their format",
    S_REPEATED: "a list names the same item once",
    S_CONTROL: CONTROL_RULE,
}


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, minus ``default: null`` on optional fields (null is not allowed)."""

    def default_schema(self, schema):
        result = super().default_schema(schema)
        if result.get("default", 0) is None:
            result.pop("default")
        return result


@cache
def enterprise_schema() -> dict[str, Any]:
    """The schema as published in ``schemas/enterprise.schema.json``."""
    body = EnterpriseDocument.model_json_schema(schema_generator=_Generator)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def schema_text() -> str:
    return json.dumps(enterprise_schema(), indent=2, ensure_ascii=False) + "\n"


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(enterprise_schema())


@cache
def _fast_validator() -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(enterprise_schema())


def is_valid(data: object) -> bool:
    """Quick yes/no from the compiled (Rust) validator, for the common case of a valid file."""
    try:
        return _fast_validator().is_valid(data)
    except (ValueError, TypeError):  # data YAML can hold but JSON cannot (dates, sets): not valid
        return False


def validate_document(document: SourceDocument) -> list[Diagnostic]:
    """Every schema violation in one document, each at the position of the offending text.

    Valid documents are confirmed by the compiled validator; only invalid ones go through the
    Python validator, whose errors carry the paths we map back to lines and columns.
    """
    if is_valid(document.data):
        return []
    return [_diagnostic(document, error) for error in _validator().iter_errors(document.data)]


def _diagnostic(document: SourceDocument, error: ValidationError) -> Diagnostic:
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = [key for key in error.instance if key not in allowed]
        key = extra[0]
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f'; did you mean "{hint[0]}"?' if hint else f"; allowed: {', '.join(allowed)}"
        return Diagnostic(
            document.position((*path, key), key=True), S_UNKNOWN_FIELD, f"unknown field {quoted(key)}{suggestion}"
        )
    if kind == "required":
        missing = error.message.split("'")[1]
        return Diagnostic(document.position(path), S_MISSING_FIELD, f'missing required field "{missing}"')
    position = document.position(path)
    title = error.schema.get("title", "value") if isinstance(error.schema, dict) else "value"
    if kind == "type":
        return Diagnostic(position, S_WRONG_TYPE, _type_message(document, path, error, title))
    if kind == "enum":
        options = [str(option) for option in error.validator_value]
        hint = difflib.get_close_matches(str(error.instance), options, n=1)
        suggestion = f'; did you mean "{hint[0]}"?' if hint else f"; expected one of: {', '.join(options)}"
        return Diagnostic(position, S_BAD_VALUE, f"{quoted(error.instance)} is not a known {title.lower()}{suggestion}")
    if kind == "pattern":
        return Diagnostic(position, S_BAD_VALUE, f"{quoted(error.instance)} is not a valid {title.lower()}")
    if kind == "minLength":
        return Diagnostic(position, S_BAD_VALUE, f"{title} must not be empty")
    if kind == "uniqueItems":
        return Diagnostic(position, S_REPEATED, f"{title} lists the same item twice")
    return Diagnostic(position, S_BAD_VALUE, shown(error.message, limit=200))


_YAML_TYPES = {bool: "a boolean", int: "a number", float: "a number"}
_EXPECTED = {"string": "text", "object": "a mapping", "array": "a list", "boolean": "true or false"}


def _type_message(document: SourceDocument, path: tuple, error: ValidationError, title: str) -> str:
    """Name what was found; for YAML 1.1 surprises, show what was typed and how to quote it."""
    expected = error.validator_value
    wanted = _EXPECTED.get(expected, expected) if isinstance(expected, str) else " or ".join(expected)
    value = error.instance
    written = document.source_text(path)
    if expected == "string" and written is not None:
        read_as = _YAML_TYPES.get(type(value), f"a {type(value).__name__}")
        read = str(value).lower() if isinstance(value, bool) else as_text(value)
        if read != written:
            read_as += f" ({shown(read)})"
        return f"{title}: expected text, but YAML reads {shown(written)} as {read_as}; {quote_hint(written)}"
    if isinstance(value, bool):
        found = f"the boolean {str(value).lower()}"
    elif isinstance(value, (int, float)):
        found = f"the number {shown(value)}"
    else:
        found = {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(
            type(value), type(value).__name__
        )
    return f"{title}: expected {wanted}, found {found}"
