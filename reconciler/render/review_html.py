"""``reconciler review --format html``: the access review as one self-contained page, to keep or print.

No external asset (the style is inline), so the file opens anywhere and stays as it was
signed; on paper every table repeats its column headings on each page and no row is split.
Rendered by Jinja with autoescaping on: every stored value goes through the ``value``
filter (``neutral.text``: control characters shown escaped) and is then escaped as HTML, so
a name is never markup.  Names sit in ``<bdi>`` so that right-to-left text cannot reorder
the row around it.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, StrictUndefined, Template

from reconciler.plan.review import FLAGS, Review
from reconciler.render.neutral import text
from reconciler.render.review import NOT_IN_TRAIL, ROLE_NAMES, last_login, service_text, signer
from reconciler.render.text import enterprise_label

HEADINGS = ("Quality", "Role", "Person", "SSIN", "Services", "Granted", "By", "Last login", "Until", "Flags")
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Access review, {{ review.at | value }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1b2430;
         margin: 1.5rem; line-height: 1.45; }
  h1 { font-size: 1.6rem; margin: 0 0 0.5rem; }
  h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; }
  .sub, .meta { color: #4a5563; }
  code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; overflow-wrap: anywhere; }
  table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
  caption { text-align: left; color: #4a5563; padding: 0.25rem 0; }
  th, td { text-align: left; vertical-align: top; padding: 0.3rem 0.45rem; border-bottom: 1px solid #c9d0d8; }
  th { background: #eef1f4; }
  ul.services { margin: 0; padding-left: 1rem; }
  .flag { display: inline-block; margin: 0 0.25rem 0.2rem 0; padding: 0 0.35rem; border: 1px solid #a12622;
          border-radius: 3px; color: #a12622; white-space: nowrap; }
  @media print {
    body { margin: 0; font-size: 10pt; }
    @page { size: A4 landscape; margin: 12mm; }
    thead { display: table-header-group; }
    tr, li { break-inside: avoid; page-break-inside: avoid; }
    section { break-before: auto; }
    .flag { border-color: #000; color: #000; }
  }
</style>
</head>
<body>
<h1>Access review</h1>
<p class="meta">{{ intro[0] }}<br>{{ intro[1] }}</p>
{% for found in review.enterprises %}
<section aria-labelledby="enterprise-{{ loop.index }}">
<h2 id="enterprise-{{ loop.index }}">Enterprise {{ label(found.number) }}
  {%- if found.name %} <bdi>{{ found.name | value }}</bdi>{% endif %}</h2>
<dl>
  <dt>Report digest</dt><dd><code>{{ found.digest }}</code></dd>
  <dt>Last signed review</dt>
  <dd>{% if found.signed %}{{ found.signed.at | value }}
    by <bdi>{{ signer(found, found.signed) | value }}</bdi>,
    digest <code>{{ found.signed.digest | value }}</code> (audit entry {{ found.signed.entry }});
    {% if found.unchanged %}nothing changed since
    {%- else %}{{ found.added }} grant{{ "" if found.added == 1 else "s" }} added since{% endif %}
  {%- else %}none{% endif %}</dd>
  <dt>Enterprise flags</dt>
  <dd>{% for flag in found.flags %}<span class="flag">{{ flags[flag] }}</span>{% else %}none{% endfor %}</dd>
</dl>
{% if found.rows %}
<table>
  <caption>{{ found.rows | length }} grant{{ "" if found.rows | length == 1 else "s" }}</caption>
  <thead><tr>
    {%- for heading in headings %}<th scope="col">{{ heading }}</th>{% endfor -%}
  </tr></thead>
  <tbody>
  {%- for row in found.rows %}
    <tr>
      <td>{{ (row.grant.quality | value) if row.grant.quality else "-" }}</td>
      <td>{{ roles.get(row.grant.role) or (row.grant.role | value) }}</td>
      <td><bdi>{{ row.name | value }}</bdi></td>
      <td>{{ row.grant.ssin | value }}</td>
      <td>{% if row.grant.services %}<ul class="services">
        {%- for service in row.grant.services %}<li>{{ service_text(service, value) }}</li>{% endfor -%}
      </ul>{% else %}-{% endif %}</td>
      <td>{{ (row.grant.granted_at | value) if row.grant.granted_at else not_in_trail }}</td>
      <td>{{ (row.grant.granted_by_actor or "-") | value }}</td>
      <td>{{ last_login(row) | value }}</td>
      <td>{{ (row.grant.until | value) if row.grant.until else "-" }}</td>
      <td>{% for flag in row.flags %}<span class="flag">{{ flags[flag] }}</span>{% else %}-{% endfor %}</td>
    </tr>
  {%- endfor %}
  </tbody>
</table>
{% else %}
<p>No grants.</p>
{% endif %}
</section>
{% endfor %}
</body>
</html>
"""


@cache
def _page() -> Template:
    environment = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    environment.filters["value"] = text
    return environment.from_string(PAGE)


def render_review_html(review: Review) -> str:
    """The review as one self-contained HTML page."""
    intro = (
        f"On {review.at}; {len(review.enterprises)} enterprise{'s' if len(review.enterprises) != 1 else ''}.",
        f"An active account is dormant after {review.dormant_after} days without a login; "
        f"grants ending within {review.window} days are flagged as ending soon.",
    )
    return _page().render(
        review=review,
        intro=intro,
        flags=FLAGS,
        roles=ROLE_NAMES,
        label=enterprise_label,
        signer=signer,
        service_text=service_text,
        last_login=last_login,
        value=text,
        not_in_trail=NOT_IN_TRAIL,
        headings=HEADINGS,
    )
