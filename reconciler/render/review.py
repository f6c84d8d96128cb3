"""``reconciler review``: the access review as text, Markdown, CSV and JSON (HTML: ``review_html``).

Every format reads the same ``plan.review.Review``.  Every stored value is data: text and CSV
pass it through ``neutral.text`` (control characters shown escaped), Markdown through
``neutral.markdown``, JSON through ``neutral.json_lines``.  CSV follows RFC 4180 (the csv
module, CRLF line ends) and defuses spreadsheet formulas as OWASP advises: a cell starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``.  Nothing
secret is shown: an account's hashes never leave the store.
"""

from __future__ import annotations

import csv
import io
import json

from reconciler.plan.grants import ACCESS_MANAGER, CO_ACCESS_MANAGER, CO_MAIN, MAIN, USER, Service
from reconciler.plan.review import FLAGS, EnterpriseReview, Review, Row, Signature, review_document
from reconciler.render.neutral import code_span, json_lines, markdown, text
from reconciler.render.text import enterprise_label

ROLE_NAMES = {
    MAIN: "main access manager",
    CO_MAIN: "co-main access manager",
    ACCESS_MANAGER: "access manager",
    CO_ACCESS_MANAGER: "co-access manager",
    USER: "user",
}
NOT_IN_TRAIL = "not in the audit trail"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "enterprise",
    "enterprise_name",
    "record",
    "quality",
    "role",
    "name",
    "ssin",
    "services",
    "granted_at",
    "granted_by",
    "last_login",
    "until",
    "flags",
    "review_signed_at",
    "review_signed_by",
    "review_digest",
)


def service_text(service: Service, escape=text) -> str:
    """A user's service and where it comes from: ``dmfa (profile payroll)`` or ``dimona (direct)``."""
    source = ", ".join(f"profile {escape(p)}" for p in service.profiles) if service.profiles else "direct"
    return f"{escape(service.code)} ({source})"


def signer(review: EnterpriseReview, signed: Signature) -> str:
    """The signer as stored (an SSIN), with their name when they still hold a grant here (unescaped)."""
    actor = signed.actor or "unknown actor"
    name = next((row.name for row in review.rows if row.grant.ssin == signed.actor and row.name), "")
    return f"{name} ({actor})" if name else actor


def last_login(row: Row) -> str:
    if row.account is None:
        return "no account"
    return row.account.last_login_at or "never"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _header(review: Review) -> list[str]:
    return [
        f"Access review of {_plural(len(review.enterprises), 'enterprise')}, on {review.at}.",
        f"An active account is dormant after {review.dormant_after} days without a login; "
        f"grants ending within {review.window} days are flagged ending-soon.",
    ]


def _signature_lines(review: EnterpriseReview) -> list[str]:
    signed = review.signed
    if signed is None:
        return ["  last signed review:  none"]
    counted = f", {_plural(signed.grants, 'grant')}" if signed.grants is not None else ""
    lines = [
        f"  last signed review:  {text(signed.at)} by {text(signer(review, signed))}{counted}, "
        f"digest {text(signed.digest)} (audit entry {signed.entry})"
    ]
    if review.unchanged:
        lines.append("                       nothing changed since: the report's digest is the one signed")
    else:
        lines.append(
            f"                       {_plural(review.added, 'grant')} added since (flagged added-since-review)"
        )
    return lines


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]).rstrip()
            for row in rows]  # fmt: skip


def _grant_cells(row: Row) -> list[str]:
    grant = row.grant
    return [
        text(grant.quality) if grant.quality else "-",
        ROLE_NAMES.get(grant.role, text(grant.role)),
        f"{text(row.name)} ({text(grant.ssin)})" if row.name else text(grant.ssin),
        text(grant.granted_at) if grant.granted_at else NOT_IN_TRAIL,
        text(grant.granted_by_actor or "-"),
        text(last_login(row)),
        text(grant.until) if grant.until else "-",
        ", ".join(row.flags) or "-",
    ]


def render_review_text(review: Review) -> str:
    """The review as aligned text for people."""
    lines = _header(review)
    for found in review.enterprises:
        name = f"  {text(found.name)}" if found.name else ""
        lines += [
            "",
            f"# enterprise {enterprise_label(found.number)}{name}",
            f"  report digest:       {found.digest}",
            *_signature_lines(found),
            f"  enterprise flags:    {', '.join(found.flags) or 'none'}",
        ]
        if not found.rows:
            lines.append("  grants:              none")
            continue
        table = _columns(
            [["quality", "role", "person", "granted", "by", "last login", "until", "flags"]]
            + [_grant_cells(row) for row in found.rows]
        )
        lines += ["  grants:", f"    {table[0]}"]
        for row, line in zip(found.rows, table[1:], strict=True):
            lines.append(f"    {line}")
            lines += [f"      - {service_text(service)}" for service in row.grant.services]
    return "\n".join(lines) + "\n"


def _markdown_row(row: Row) -> str:
    grant = row.grant
    cells = [
        markdown(grant.quality) if grant.quality else "-",
        ROLE_NAMES.get(grant.role, markdown(grant.role)),
        markdown(row.name) or "-",
        markdown(grant.ssin),
        ", ".join(service_text(s, markdown) for s in grant.services) or "-",
        markdown(grant.granted_at) if grant.granted_at else NOT_IN_TRAIL,
        markdown(grant.granted_by_actor or "-"),
        markdown(last_login(row)),
        markdown(grant.until) if grant.until else "-",
        ", ".join(FLAGS[flag] for flag in row.flags) or "-",
    ]
    return "| " + " | ".join(cells) + " |"


def render_review_markdown(review: Review) -> str:
    """The review as Markdown (a pull-request comment, a wiki page)."""
    lines = ["# Access review", "", *_header(review)]
    for found in review.enterprises:
        title = f" — {markdown(found.name)}" if found.name else ""
        signed = found.signed
        if signed is None:
            signature = "none"
        else:
            signature = (
                f"{markdown(signed.at)} by {markdown(signer(found, signed))}, digest {code_span(signed.digest)} "
                f"(audit entry {signed.entry}); "
                + ("nothing changed since" if found.unchanged else f"{_plural(found.added, 'grant')} added since")
            )
        lines += [
            "",
            f"## Enterprise {markdown(enterprise_label(found.number))}{title}",
            "",
            f"- Report digest: `{found.digest}`",
            f"- Last signed review: {signature}",
            f"- Enterprise flags: {', '.join(FLAGS[flag] for flag in found.flags) or 'none'}",
            "",
        ]
        if not found.rows:
            lines.append("No grants.")
            continue
        lines += [
            "| Quality | Role | Person | SSIN | Services | Granted | By | Last login | Until | Flags |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *(_markdown_row(row) for row in found.rows),
        ]
    return "\n".join(lines) + "\n"


def spreadsheet_cell(value: object) -> str:
    """A CSV cell: control characters escaped, and a leading ``'`` where a spreadsheet would see a formula."""
    shown = "" if value is None else str(value)
    defused = "'" + shown if shown.startswith(FORMULA_STARTS) else shown
    return text(defused)


def _csv_rows(found: EnterpriseReview) -> list[list[object]]:
    signed = found.signed
    rows: list[list[object]] = [
        [
            found.number,
            found.name,
            "enterprise",
            *[""] * 9,
            " ".join(found.flags),
            signed.at if signed else "",
            signed.actor if signed else "",
            signed.digest if signed else "",
        ]
    ]
    for row in found.rows:
        grant = row.grant
        rows.append(
            [
                found.number,
                found.name,
                "grant",
                grant.quality,
                grant.role,
                row.name,
                grant.ssin,
                "; ".join(service_text(s, str) for s in grant.services),
                grant.granted_at,
                grant.granted_by_actor,
                last_login(row),
                grant.until,
                " ".join(row.flags),
                "",
                "",
                "",
            ]
        )
    return rows


def render_review_csv(review: Review) -> str:
    """The review as CSV (RFC 4180): a row per enterprise (its flags and last signature), then one per grant."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for found in review.enterprises:
        writer.writerows([spreadsheet_cell(cell) for cell in row] for row in _csv_rows(found))
    return out.getvalue()


def render_review_json(review: Review) -> str:
    """The review as a document of ``schemas/review.schema.json``."""
    return json_lines(json.dumps(review_document(review), indent=2, ensure_ascii=False)) + "\n"
