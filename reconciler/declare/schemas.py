"""Every JSON Schema the tool publishes, by name: what ``reconciler schema`` prints and ``make docs`` writes."""

from __future__ import annotations

from importlib import resources

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.catalogue_file import catalogue_schema_text
from reconciler.declare.schema import schema_text

SCHEMAS = ("enterprise", "plan", "catalogue", "problems", "show", "drift", "who", "review")


def schema_document(name: str, catalogue: Catalogue | None = None) -> str:
    """A JSON Schema's text: enterprise and catalogue generated from the code (enterprise for
    ``catalogue``, the effective one by default), plan and problems as shipped in the package."""
    if name == "enterprise":
        return schema_text(catalogue)
    if name == "catalogue":
        return catalogue_schema_text()
    return resources.files("reconciler").joinpath(f"schemas/{name}.schema.json").read_text(encoding="utf-8")
