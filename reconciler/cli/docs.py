"""Generate what the docs derive from the code, so they never drift.

``python -m reconciler.cli.docs`` writes the JSON Schemas (``reconciler/schemas/``, shipped in
the package, which ``reconciler schema`` prints, and their published copies in ``schemas/``)
and the generated sections of ``README.md`` (between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``).  Tests call the same functions and fail when a checked-in copy is out
of date.  What is generated here follows the shipped catalogue; ``reconciler schema`` and the
tables a command prints follow the effective one.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from reconciler.cli.common import EXIT_CODES
from reconciler.declare.catalogue import Catalogue, load_catalogue, shipped_catalogue
from reconciler.declare.catalogue_file import CATALOGUE_RULES
from reconciler.declare.load import LOADING_RULES
from reconciler.declare.rules.registry import RULES
from reconciler.declare.schema import SCHEMA_RULES
from reconciler.declare.schemas import SCHEMAS, schema_document
from reconciler.plan.authority import AREAS, CODE_ISSUERS, Standing
from reconciler.plan.gates import GATES
from reconciler.plan.selection import SELECTION_RULES

PACKAGE_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"  # reconciler/schemas: package data
PUBLISHED_SCHEMAS = Path("schemas")  # the published copies, at the repository's root
README_PATH = Path("README.md")


def generated_schemas() -> dict[str, str]:
    """File name -> text of every schema as shipped: the enterprise schema of the shipped catalogue."""
    return {f"{name}.schema.json": schema_document(name, shipped_catalogue()) for name in SCHEMAS}


def rules_table() -> str:
    rows = ["| id | checks that | rule | checked by |", "|---|---|---|---|"]
    for rule_id, summary in sorted(LOADING_RULES.items()):
        rows.append(f"| {rule_id} | {summary} | loading | the tool |")
    for rule_id, summary in sorted(SCHEMA_RULES.items()):
        by = "the tool (the loader)" if rule_id == "S006" else "JSON Schema"
        rows.append(f"| {rule_id} | {summary} | JSON Schema | {by} |")
    for rule_id, summary in sorted(CATALOGUE_RULES.items()):
        rows.append(f"| {rule_id} | {summary} | catalogue file | the tool |")
    for rule_id, summary in sorted(SELECTION_RULES.items()):
        rows.append(f"| {rule_id} | {summary} | selection (plan, apply) | the tool |")
    for rule in sorted(RULES.values(), key=lambda r: r.id):
        rows.append(f"| {rule.id} | {rule.summary} | {rule.quote.replace('|', '/')} | {rule.checked_by} |")
    return "\n".join(rows)


def catalogue_table(catalogue: Catalogue | None = None) -> str:
    catalogue = catalogue or load_catalogue()
    rows = [
        "| code | English | Dutch | French | German | requires | services offered |",
        "|---|---|---|---|---|---|---|",
    ]
    for quality in catalogue.qualities.values():
        services = ", ".join(sorted(quality.services))
        rows.append(
            f"| `{quality.code}` | {quality.en} | {quality.nl} | {quality.fr} | {quality.de} | "
            f"{', '.join(quality.requires) or '-'} | {services} |"
        )
    rows += ["", "| service | English | structured messages |", "|---|---|---|"]
    for service in catalogue.services.values():
        rows.append(f"| `{service.code}` | {service.en} | {'yes' if service.structured_messages else 'no'} |")
    return "\n".join(rows)


def authority_table() -> str:
    standings = list(Standing)
    rows = ["| id | change | " + " | ".join(s.value for s in standings) + " |", "|---|---|" + "---|" * len(standings)]
    for area in AREAS.values():
        cells = " | ".join("yes" if s in area.allowed else "-" for s in standings)
        rows.append(f"| {area.id} | {area.what} | {cells} |")
    return "\n".join(rows)


def code_issuers_table() -> str:
    rows = ["| account of | new access codes are issued by |", "|---|---|"]
    rows += [f"| {role} | {issuers} |" for role, issuers in CODE_ISSUERS]
    return "\n".join(rows)


def gates_table() -> str:
    rows = ["| id | gate | lifted by | why |", "|---|---|---|---|"]
    for found in GATES.values():
        why = " ".join((found.check.__doc__ or "").split())
        rows.append(f"| {found.id} | {found.summary} | `{found.override}` | {why} |")
    return "\n".join(rows)


def exit_codes_table() -> str:
    return "\n".join(
        ["| code | meaning |", "|---|---|"] + [f"| {code} | {what} |" for code, what in EXIT_CODES.items()]
    )


def bench_table() -> str:
    """The table of the last ``make bench``, as kept in bench/RESULTS.md."""
    path = Path("bench/RESULTS.md")
    if not path.exists():
        return "(no benchmark results yet: run `make bench`)"
    lines = path.read_text(encoding="utf-8").splitlines()
    measured = [line for line in lines if line.startswith("Measured")]
    return "\n".join(measured + [""] + [line for line in lines if line.startswith("|")])


SECTIONS = {
    "rules": rules_table,
    "bench": bench_table,
    "catalogue": lambda: catalogue_table(shipped_catalogue()),
    "authority": authority_table,
    "gates": gates_table,
    "exit-codes": exit_codes_table,
    "code-issuers": code_issuers_table,
}


def render_readme(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> section")
        body = make()

        def between(m: re.Match[str], body: str = body) -> str:
            return m.group(1) + body + "\n" + m.group(2)

        text = pattern.sub(between, text)
    return text


def main() -> None:
    PUBLISHED_SCHEMAS.mkdir(exist_ok=True)
    for name, text in generated_schemas().items():
        (PACKAGE_SCHEMAS / name).write_text(text, encoding="utf-8")
        (PUBLISHED_SCHEMAS / name).write_text(text, encoding="utf-8")
    README_PATH.write_text(render_readme(README_PATH.read_text(encoding="utf-8")), encoding="utf-8")
    click.echo(f"wrote {PACKAGE_SCHEMAS}, {PUBLISHED_SCHEMAS}/ and the generated sections of {README_PATH}")


if __name__ == "__main__":
    main()
