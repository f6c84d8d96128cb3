"""JSON Schema of the declared format: generated from the models, checked with jsonschema.

The schema is built per effective catalogue (``constraints``), and compiled once for it: the
fast path asks the compiled validator of every file whether it is valid.

Validation uses ``iter_errors`` so every problem in a file is reported, and each error is
mapped back through its JSON path to the line and column the loader recorded.  Declared
values are quoted in messages through ``characters.quoted``: escaped and shortened.

Rule S006 (no control characters in text) is registered here with the other rules on
values, but checked by the reference loader, which sees the characters where they stand.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import jsonschema_rs
from pydantic.json_schema import GenerateJsonSchema

from reconciler.declare.catalogue import Catalogue, load_catalogue
from reconciler.declare.characters import CONTROL_RULE, S_CONTROL, as_text, quote_hint, quoted, shown
from reconciler.declare.constraints import CHANNEL, QUALITY, RULE, with_catalogue
from reconciler.declare.diagnostics import Diagnostic
from reconciler.declare.model import EnterpriseDocument
from reconciler.declare.source import SourceDocument

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

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


class Generator(GenerateJsonSchema):
    """Pydantic's generator, minus ``default: null`` on optional fields (null is not allowed)."""

    def default_schema(self, schema):
        result = super().default_schema(schema)
        if result.get("default", 0) is None:
            result.pop("default")
        return result


@dataclass(frozen=True)
class _Compiled:
    schema: dict[str, Any]
    fast: jsonschema_rs.Validator  # decides: the common case of a valid file

    @cached_property
    def slow(self) -> Draft202012Validator:
        """Explains every error, with its path: built when a document first fails the fast validator."""
        from jsonschema import Draft202012Validator  # noqa: PLC0415 - most runs never need its imports

        return Draft202012Validator(self.schema)


_COMPILED: dict[str, _Compiled] = {}  # by catalogue digest: built once per effective catalogue


@cache
def _model_schema() -> dict[str, Any]:
    return EnterpriseDocument.model_json_schema(schema_generator=Generator)


def _compiled(catalogue: Catalogue | None) -> _Compiled:
    catalogue = catalogue or load_catalogue()
    found = _COMPILED.get(catalogue.digest)
    if found is None:
        body = with_catalogue(_model_schema(), catalogue)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}
        found = _Compiled(schema, jsonschema_rs.Draft202012Validator(schema))
        _COMPILED[catalogue.digest] = found
    return found


def enterprise_schema(catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The schema for the catalogue in effect (or ``catalogue``); the shipped one is in ``schemas/``."""
    return _compiled(catalogue).schema


def schema_text(catalogue: Catalogue | None = None) -> str:
    return json.dumps(enterprise_schema(catalogue), indent=2, ensure_ascii=False) + "\n"


def is_valid(data: object, catalogue: Catalogue | None = None) -> bool:
    """Quick yes/no from the compiled (Rust) validator, for the common case of a valid file."""
    try:
        return _compiled(catalogue).fast.is_valid(data)
    except (ValueError, TypeError):  # data YAML can hold but JSON cannot (dates, sets): not valid
        return False


def validate_document(document: SourceDocument, catalogue: Catalogue | None = None) -> list[Diagnostic]:
    """Every schema violation in one document, each at the position of the offending text.

    Valid documents are confirmed by the compiled validator; only invalid ones go through the
    Python validator, whose errors carry the paths we map back to lines and columns.
    """
    catalogue = catalogue or load_catalogue()
    booleans = yaml11_booleans(document)
    if is_valid(document.data, catalogue):
        return booleans
    problems = schema_diagnostics(document, _compiled(catalogue).slow.iter_errors(document.data), catalogue)
    if not problems:
        # The compiled validator refuses what Python's finds nothing wrong with: their regular
        # expressions differ at the edges (Python's "$" matches before a final line feed).  The
        # compiled one decides, and says where; the document is never taken as valid.
        problems = [
            Diagnostic(
                document.position(tuple(error.instance_path)),
                S_BAD_VALUE,
                f"{quoted(str(error.instance))} is not valid here",
            )
            for error in _compiled(catalogue).fast.iter_errors(document.data)
        ] or [Diagnostic(document.position(()), S_BAD_VALUE, "the document does not match the schema")]
    covered = {problem.position for problem in problems}
    return problems + [problem for problem in booleans if problem.position not in covered]


def schema_diagnostics(
    document: SourceDocument, errors: Iterable[ValidationError], catalogue: Catalogue | None = None
) -> list[Diagnostic]:
    """Diagnostics for a document's schema errors, once each.

    A service the catalogue does not know at all breaks both the list of known services and
    the list of those its quality offers: only the first is reported.
    """
    catalogue = catalogue or load_catalogue()
    found: dict[Diagnostic, None] = {}
    for error in errors:
        marked = error.schema.get(RULE) if isinstance(error.schema, dict) else None
        if marked in ("H008", "H009") and error.instance not in catalogue.services:
            continue
        found[_catalogued(document, error, marked, catalogue) if marked else _diagnostic(document, error)] = None
    return list(found)


def yaml11_booleans(document: SourceDocument) -> list[Diagnostic]:
    """S003 at each boolean written as YAML 1.1 alone reads it (``yes``, ``off``, ...).

    YAML 1.1 reads ``default: yes`` as true; YAML 1.2, which editors and most other tools
    read, as the text "yes", which the schema refuses.  Only ``true`` and ``false`` mean the
    same to both, so the tool asks for them rather than guessing which reading was meant.
    """
    found = []
    for path, written in document.plain_text.items():
        if written in _YAML11_BOOLEANS:
            value = "true" if written.lower() in ("yes", "on") else "false"
            found.append(
                Diagnostic(
                    document.position(path),
                    S_WRONG_TYPE,
                    f"YAML 1.1 reads {written} as {value}, but YAML 1.2 (editors, the published schema) reads it "
                    f"as text; write {value}",
                )
            )
    return found


_YAML11_BOOLEANS = frozenset(
    word for base in ("yes", "no", "on", "off") for word in (base, base.capitalize(), base.upper())
)


def _catalogued(document: SourceDocument, error: ValidationError, rule: str, catalogue: Catalogue) -> Diagnostic:
    """A catalogue constraint broken: worded as the hierarchy rule that states it words it."""
    path = tuple(error.absolute_path)
    schema = error.schema
    if rule == "H016":
        code = schema[QUALITY]
        missing = [f for f in catalogue.qualities[code].requires if f not in error.instance]
        return Diagnostic(document.position((*path, "code")), rule, f'quality "{code}" requires {", ".join(missing)}')
    if rule == "H011":
        channel, number = schema[CHANNEL], error.instance.get("number")
        if error.validator == "not":
            field = error.validator_value["required"][0]
            return Diagnostic(document.position((*path, field), key=True), rule, f"channel {channel} takes no {field}")
        field = error.message.split("'")[1]
        return Diagnostic(
            document.position((*path, "channel")), rule, f'channel {channel} of sender "{number}" needs {field}'
        )
    code, service = schema[QUALITY], error.instance
    if rule == "H009" and service in catalogue.qualities[code].services:
        return Diagnostic(document.position(path), rule, f'the service "{service}" exchanges no structured messages')
    return Diagnostic(document.position(path), rule, f'quality "{code}" does not offer the service "{service}"')


def _diagnostic(document: SourceDocument, error: ValidationError) -> Diagnostic:
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = [key for key in error.instance if key not in allowed]
        key = extra[0]
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f'; did you mean "{hint[0]}"?' if hint else f"; allowed: {', '.join(allowed)}"
        if key == "until" and path == ("main_access_manager",):
            suggestion = "; the main access manager's appointment has no end date: appoint another one instead"
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
