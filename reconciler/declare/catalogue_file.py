"""The user's catalogue file: its format, its JSON Schema, reading it, and finding it.

A repository may hold ``reconciler.yaml`` (found from the working directory up to the
repository root), or a command may be given ``--catalogue FILE``: either adds qualities and
services to the shipped catalogue, or replaces shipped entries of the same code.  The file
is read by the same position-tracking loader as enterprise files and checked against its
own schema (``reconciler schema catalogue``), so its mistakes are reported the same way,
``file:line:column`` and a rule id, before anything else is read.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import JsonDict, SkipJsonSchema

from reconciler.declare.catalogue import (
    Catalogue,
    activate,
    combine,
    inconsistencies,
    load_catalogue,
    shipped_catalogue,
)
from reconciler.declare.diagnostics import Diagnostic, ReconcilerError
from reconciler.declare.reading import load_file
from reconciler.declare.schema import Generator, schema_diagnostics, yaml11_booleans

USER_FILE = "reconciler.yaml"
CATALOGUE_SCHEMA_ID = "https://reconciler.example/schemas/catalogue.schema.json"
C_UNKNOWN_SERVICE = "C001"
CATALOGUE_RULES = {C_UNKNOWN_SERVICE: "a catalogue's qualities offer only services it (or the shipped one) defines"}

CODE_PATTERN = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"  # what a code looks like: lower case, digits, hyphens
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN, max_length=60)]
_CODES: JsonDict = {"propertyNames": {"pattern": CODE_PATTERN, "maxLength": 60, "title": "Code"}}
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    en: Text = Field(title="English name", description="Name shown in plans, docs tables and the overview.")
    nl: Text | SkipJsonSchema[None] = Field(default=None, title="Dutch name", description="Defaults to the English.")
    fr: Text | SkipJsonSchema[None] = Field(default=None, title="French name", description="Defaults to the English.")
    de: Text | SkipJsonSchema[None] = Field(default=None, title="German name", description="Defaults to the English.")


class ServiceEntry(_Entry):
    """An online service of the portal."""

    model_config = ConfigDict(title="Service")

    structured_messages: bool | SkipJsonSchema[None] = Field(
        default=None,
        title="Structured messages",
        description="Whether the service exchanges structured messages a routing rule may route (default false).",
    )


class QualityEntry(_Entry):
    """A quality (hoedanigheid / qualité): the services it offers and the identifiers it requires."""

    model_config = ConfigDict(title="Quality")

    requires: list[Literal["nsso_number"]] = Field(
        default_factory=list,
        title="Required identifiers",
        description="Fields every declaration of this quality carries, e.g. nsso_number for employers.",
        json_schema_extra={"uniqueItems": True},
    )
    services: list[Code] = Field(
        title="Services offered",
        description="Codes of the online services users of this quality may be granted.",
        json_schema_extra={"uniqueItems": True},
    )


class CatalogueDocument(BaseModel):
    """Qualities and services to add to the shipped catalogue, or to replace there (same code: whole entry)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, title="Catalogue")

    services: dict[Code, ServiceEntry] = Field(
        default_factory=dict, title="Services", description="Online services by code.", json_schema_extra=_CODES
    )
    qualities: dict[Code, QualityEntry] = Field(
        default_factory=dict, title="Qualities", description="Qualities by code.", json_schema_extra=_CODES
    )


@cache
def catalogue_schema() -> dict[str, Any]:
    """The JSON Schema of catalogue files, the shipped one included."""
    body = CatalogueDocument.model_json_schema(schema_generator=Generator)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": CATALOGUE_SCHEMA_ID, **body}


def catalogue_schema_text() -> str:
    return json.dumps(catalogue_schema(), indent=2, ensure_ascii=False) + "\n"


def read_catalogue(path: Path, base: Catalogue | None = None) -> Catalogue:
    """The shipped catalogue (or ``base``) with the file at ``path`` applied.

    Raises ``ReconcilerError`` with every problem found: the file's YAML, its schema, and
    qualities naming services nobody defines.
    """
    base = base or shipped_catalogue()
    document, problems = load_file(path)
    if document is None or problems:
        raise ReconcilerError(problems)
    data = document.data
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - only a run with a catalogue file needs it

    problems = schema_diagnostics(document, Draft202012Validator(catalogue_schema()).iter_errors(data))
    covered = {problem.position for problem in problems}
    problems += [problem for problem in yaml11_booleans(document) if problem.position not in covered]
    if problems:
        raise ReconcilerError(problems)
    catalogue = combine(base, data, str(path.resolve()), path.read_bytes())
    for code, message in inconsistencies(catalogue):
        services = data.get("qualities", {}).get(code, {}).get("services", [])
        unknown = [i for i, s in enumerate(services) if s not in catalogue.services]
        where = ("qualities", code, "services", unknown[0]) if unknown else ("qualities", code)
        problems.append(
            Diagnostic(document.position(where), C_UNKNOWN_SERVICE, message + "; define them under services")
        )
    if problems:
        raise ReconcilerError(problems)
    return catalogue


def find_user_file(start: Path) -> Path | None:
    """The nearest ``reconciler.yaml`` from ``start`` up to the repository root; outside a repository,
    in ``start`` only (a file in some parent folder of a stranger's would be a surprise)."""
    here = start.resolve()
    upwards = [here, *here.parents]
    root = next((index for index, folder in enumerate(upwards) if (folder / ".git").exists()), 0)
    for folder in upwards[: root + 1]:
        candidate = folder / USER_FILE
        if candidate.is_file():
            return candidate
    return None


def use_catalogue(path: Path | None, start: Path | None = None) -> Catalogue:
    """Make the catalogue in effect the shipped one plus ``path`` (or the file found from ``start``)."""
    found = path if path is not None else find_user_file(start or Path.cwd())
    activate(read_catalogue(found) if found is not None else None)
    return load_catalogue()


def is_catalogue_file(path: str) -> bool:
    """Whether a file found among enterprise files is a catalogue file, to be left out of them."""
    if Path(path).name == USER_FILE:
        return True
    sources = load_catalogue().sources[1:]
    return bool(sources) and str(Path(path).resolve()) in sources
