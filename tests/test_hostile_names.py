"""Hostile names through validation and every renderer, on both stores.

A name is data, never markup or a terminal command.  Each name below goes through
``validate`` (control and bidirectional characters are refused with S006 at their
position; the rest is accepted), and then, declared when accepted and written into the
store directly as data from before the rule would be, through every plan format, ``show``,
``export``, the letters and the web overview.  Each output must show the name as text:
no raw control or format character in terminal output, no live markup in the Markdown
comment, HTML-escaped on the web page, the same data back from JSON and YAML.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes
from reconciler.declare.characters import SHOWN_ESCAPED
from reconciler.render import neutral
from reconciler.store.postgresql import split_url
from reconciler.web.app import create_app
from tests.conftest import EXAMPLES
from tests.test_lifecycle import apply_paths

SMALL = "0999055557"
JAN, ELS = "58022754967", "75031366754"
SMALL_FILE = EXAMPLES / "small-employer.yaml"
PASSWORD = "a long passphrase here"

HOSTILE = {
    "html": "<img src=x onerror=alert(1)>",
    "link": "[click me](https://evil.example/x) www.evil.example",
    "details": "</details><details open><summary>gotcha",
    "mention": "@everyone and @org/team",
    "emphasis": "**bold** _it_ ~~gone~~ $x$ #1",
    "backticks": "a ``` b ````` c",
    "zero-width": "Jan\u200bMertens",
    "long": "J" * 100_000,
    "esc": "Jan\x1b[31mMertens\x1b[0m",
    "cr": "Jan\rMallory",
    "newline": "Jan\nMallory",
    "nul": "Jan\x00Mertens",
    "bidi override": "Jan\u202eMertens",
    "bidi isolate": "Jan\u2066Mertens\u2069",
    "c1": "Jan\x9b31mMertens",
}
# What S006 says about each refused name, declared on line 25, column 15 of the small employer.
REFUSED = {
    "esc": "holds the control character \\x1b (ESCAPE) at character 4",
    "cr": "holds the control character \\x0d (CARRIAGE RETURN) at character 4",
    "newline": "holds the control character \\x0a (LINE FEED) at character 4",
    "nul": "holds the control character \\x00 (NULL) at character 4",
    "bidi override": "holds the bidirectional control character \\u202e (RIGHT-TO-LEFT OVERRIDE) at character 4",
    "bidi isolate": "holds the bidirectional control character \\u2066 (LEFT-TO-RIGHT ISOLATE) at character 4",
    "c1": "holds the control character \\x9b (CONTROL SEQUENCE INTRODUCER) at character 4",
}
ACCEPTED = [name for name in HOSTILE if name not in REFUSED]


def with_jan_named(name: str, folder: Path) -> Path:
    """The small employer with Jan Mertens (a user, line 25) renamed, written as a JSON string: valid YAML."""
    text = SMALL_FILE.read_text(encoding="utf-8")
    text = text.replace("        name: Jan Mertens\n", f"        name: {json.dumps(name)}\n")
    path = folder / "small.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def terminal_safe(output: str) -> bool:
    """No control, format or separator character but the line feeds that end lines."""
    return SHOWN_ESCAPED.search(output.replace("\n", "")) is None


def assert_inert_markdown(comment: str, name: str) -> None:
    """The comment holds none of the name's markup live, and every fence closes where the plan put it."""
    outside_code = re.sub(r"(?ms)^(`{3,})diff\n.*?^\1$", "", comment)
    for live in ("<img", "</details><details open>", "](https://", "@everyone", "**bold**", "``` b"):
        if live in name:
            assert live not in outside_code
    assert comment.count("<details>") + comment.count("<details><summary>") >= comment.count("</details>")
    opened = re.findall(r"(?m)^(`{3,})diff$", comment)
    assert all(len(fence) > max((len(run) for run in re.findall(r"`+", name)), default=0) for fence in opened)


def write_rows(url: str, statement: str, *parameters: object) -> None:
    """Rows written by another tool, as data from before validation refused control characters."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("://", 1)[1][1:]) as db:
            db.execute(statement, parameters)
        return
    conninfo, schema = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute(f'SET search_path TO "{schema}"')
        db.execute(statement.replace("?", "%s"), parameters)


# Validation.


@pytest.mark.parametrize("case", list(HOSTILE))
def test_validation_refuses_control_and_bidirectional_characters_only(case: str, run, tmp_path: Path) -> None:
    path = with_jan_named(HOSTILE[case], tmp_path)
    result = run("validate", path)
    if case in REFUSED:
        shown = neutral.text(HOSTILE[case])
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            f'{path}:25:15: S006 "{shown}" {REFUSED[case]}; remove it',
            "1 problem found.",
        ]
    else:
        assert result.exit_code == 0, result.stderr
        assert terminal_safe(result.stderr + result.stdout)


# Declared names (accepted ones): planned in every format and applied on both stores.


@pytest.mark.parametrize("case", ACCEPTED)
def test_declared_names_are_data_in_every_plan_format(case: str, run, store_url: str, tmp_path: Path) -> None:
    name = HOSTILE[case]
    path = with_jan_named(name, tmp_path)
    text = run("plan", path, "--state", store_url).stdout
    assert terminal_safe(text)
    assert f"      + name  = {neutral.json_text(json.dumps(name, ensure_ascii=False))}\n" in text
    document = json.loads(run("plan", path, "--state", store_url, "--format", "json").stdout)
    assert {c["after"]["name"] for c in document["changes"] if c["address"].endswith(f"person[{JAN}]")} == {name}
    comment = run("plan", path, "--state", store_url, "--format", "markdown", "--markdown-limit", "10000000").stdout
    assert_inert_markdown(comment, name)
    assert run("apply", path, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0
    assert run("plan", path, "--state", store_url, "--detailed-exitcode").exit_code == 0


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_names_never_reach_the_store(case: str, run, store_url: str, tmp_path: Path) -> None:
    """A NUL was applied on SQLite and a psycopg traceback on PostgreSQL; ESC and the rest were applied on both."""
    path = with_jan_named(HOSTILE[case], tmp_path)
    result = run("apply", path, "--state", store_url, "--auto-approve", "--defer-codes")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(f"{path}:25:15: S006 ")
    assert "Traceback" not in result.stderr


# Stored names (every one, as old data would hold them): plans, show, export, letters, web.


@pytest.fixture
def stored_name(request: pytest.FixtureRequest, store, store_url: str, tmp_path: Path):
    """The small employer applied, then Jan's name and the enterprise's name replaced in the store."""
    case = request.param
    name = HOSTILE[case]
    if case == "nul" and store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL cannot store NUL: the very reason validation refuses it")
    now = datetime.now(UTC)
    apply_paths(store, SMALL_FILE, now=now)
    write_rows(store_url, "UPDATE persons SET name = ? WHERE enterprise = ? AND ssin = ?", name, SMALL, JAN)
    write_rows(store_url, "UPDATE enterprises SET name = ? WHERE number = ?", name, SMALL)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, now, "http://login.example/first-login", "r")
    return case, name, letters


CASES = pytest.mark.parametrize("stored_name", list(HOSTILE), indirect=True)


@CASES
def test_stored_names_in_every_plan_format(stored_name, run, store_url: str) -> None:
    _, name, _ = stored_name
    text = run("plan", SMALL_FILE, "--state", store_url).stdout
    assert terminal_safe(text)
    before = neutral.json_text(json.dumps(name, ensure_ascii=False))
    assert f'      ~ name = {before} -> "Jan Mertens"\n' in text
    assert re.search(rf"(?m)^    jmertens  {re.escape(neutral.text(name))}  pending \(deadline [0-9-]{{10}}\)$", text)
    document = json.loads(run("plan", SMALL_FILE, "--state", store_url, "--format", "json").stdout)
    assert {c["before"]["name"] for c in document["changes"] if c["address"].endswith(f"person[{JAN}]")} == {name}
    comment = run("plan", SMALL_FILE, "--state", store_url, "--format", "markdown", "--markdown-limit", "10000000")
    assert_inert_markdown(comment.stdout, name)
    assert f"`jmertens` {neutral.markdown(name)}: pending" in comment.stdout


@CASES
def test_stored_names_in_show_and_export(stored_name, run, store_url: str, tmp_path: Path) -> None:
    case, name, _ = stored_name
    overview = run("show", "--state", store_url).stdout
    detail = run("show", SMALL, "--state", store_url).stdout
    assert terminal_safe(overview) and terminal_safe(detail)
    assert f"0999.055.557  {neutral.text(name)}  (version" in overview
    assert f"    user: {neutral.text(name)} ({JAN}) [jmertens, pending until" in detail
    document = json.loads(run("show", SMALL, "--state", store_url, "--format", "json").stdout)
    assert document["declaration"]["enterprise"]["name"] == name
    out = tmp_path / "exported"
    assert run("export", "--state", store_url, "--out", out).exit_code == 0
    exported = yaml.safe_load((out / f"{SMALL}.yaml").read_text(encoding="utf-8"))
    assert exported["enterprise"]["name"] == name  # the same data back: YAML quoted and escaped what it had to
    validated = run("validate", out)
    if case in REFUSED:  # old data the rule now refuses: exported as it is, and reported where it stands
        assert validated.exit_code == 1 and {line.split(" ")[1] for line in validated.stderr.splitlines()[:-1]} == {
            "S006"
        }
    else:
        assert validated.exit_code == 0, validated.stderr


@CASES
def test_stored_names_in_letters(stored_name) -> None:
    """Letters are plain text: markup is inert there, control and format characters are not."""
    _, name, letters = stored_name
    letter = (letters / SMALL / "jmertens" / "1-user-name.txt").read_text(encoding="utf-8")
    shown = neutral.text(name)
    assert letter.startswith(f"To: {shown}\nEnterprise: 0999.055.557 {shown}\n")


@CASES
def test_stored_names_in_json_reach_no_terminal_raw(stored_name, run, store_url: str) -> None:
    """JSON escapes C0 controls; reconciler writes C1, bidirectional and zero-width characters as escapes too."""
    plan = run("plan", SMALL_FILE, "--state", store_url, "--format", "json").stdout
    show = run("show", SMALL, "--state", store_url, "--format", "json").stdout
    assert terminal_safe(plan) and terminal_safe(show)


def overview_page(store, store_url: str, letters: Path) -> str:
    """Els Mertens (main access manager) activates her account and opens her overview, which lists Jan."""
    now = datetime.now(UTC)
    letter = (letters / SMALL / "emertens" / "2-temporary-password.txt").read_text(encoding="utf-8")
    account = firstlogin.start(
        store, "emertens", re.search(r"\b([A-Z2-9]{4}(?:-[A-Z2-9]{4}){3})\b", letter).group(1), now
    )
    firstlogin.confirm_identity(store, account, ELS, now)
    firstlogin.choose_password(store, account, PASSWORD, PASSWORD, now, "r")
    web = create_app(store_url, secret_key="test").test_client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text).group(1)
    web.post("/login", data={"csrf_token": csrf, "username": "emertens", "password": PASSWORD})
    return web.get("/me").text


@CASES
def test_stored_names_on_the_web_overview(stored_name, store, store_url: str) -> None:
    """Jinja autoescapes: the name is text on the page, whatever markup it holds."""
    _, name, letters = stored_name
    page = overview_page(store, store_url, letters)
    escaped = html.escape(neutral.text(name), quote=True).replace("&#x27;", "&#39;")
    assert f"<td><bdi>{escaped}</bdi></td>" in page  # Jan, a user of the quality Els manages
    assert f'<h1 id="enterprise"><bdi>{escaped}</bdi> <span' in page
    for live in ("<img", "</details><details", "<summary>"):
        if live in name:
            assert live not in page


@CASES
def test_stored_names_on_the_web_cannot_reorder_the_page(stored_name, store, store_url: str) -> None:
    """Autoescaping leaves bidirectional overrides as they are; the ``declared`` filter writes them as escapes."""
    _, _, letters = stored_name
    assert re.search("[\u202a-\u202e\u2066-\u2069]", overview_page(store, store_url, letters)) is None


# The escaping itself: exact forms.


def test_text_escapes_controls_and_format_characters() -> None:
    assert neutral.text("Jan\x1b[31m\rX\u202e\u200b\u2028\U000e0001\x9b") == (
        "Jan\\x1b[31m\\x0dX\\u202e\\u200b\\u2028\\U000e0001\\x9b"
    )
    assert neutral.text("Émile O'Neil-Dubois 😀") == "Émile O'Neil-Dubois 😀"
    assert neutral.json_text('"a\\u001b\u202e\U000e0001"') == '"a\\u001b\\u202e\\udb40\\udc01"'


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("<img src=x onerror=alert(1)>", "&#60;img src=x onerror=alert(1)&#62;"),
        ("[click](https://evil.example)", "&#91;click&#93;(https://&#8203;evil.example)"),
        ("</details>", "&#60;/details&#62;"),
        ("@everyone, @org/team", "@&#8203;everyone, @&#8203;org/team"),
        ("jan@goudenkorst.example", "jan@goudenkorst.example"),
        ("**b** _i_ ~~s~~ $m$", "&#42;&#42;b&#42;&#42; &#95;i&#95; &#126;&#126;s&#126;&#126; &#36;m&#36;"),
        ("``` fence", "&#96;&#96;&#96; fence"),
        ("#12 and www.x.example", "&#35;&#8203;12 and www&#8203;.x.example"),
        ("a|b &amp; \\", "a&#124;b &#38;amp; &#92;"),
        ("Jan\u202eMertens", "Jan&#92;u202eMertens"),
        ("Bakkerij De Gouden Korst", "Bakkerij De Gouden Korst"),
    ],
)
def test_markdown_neutralises_markup(name: str, expected: str) -> None:
    assert neutral.markdown(name) == expected


def test_code_spans_and_fences_outlast_the_backticks_inside() -> None:
    assert neutral.code_span("jmertens") == "`jmertens`"
    assert neutral.code_span("a`b") == "``a`b``"
    assert neutral.code_span("`x") == "`` `x ``"
    assert neutral.fence(['+ name = "a ``` b ````` c"'], "diff") == [
        "``````diff",
        '+ name = "a ``` b ````` c"',
        "``````",
    ]
    assert neutral.fence(["plain"], "diff") == ["```diff", "plain", "```"]


def test_the_escaped_characters_are_the_unicode_categories() -> None:
    """The written-out class equals Cc, Cf, Zl, Zp and Cs of this Python's Unicode (computing it at
    start-up would cost a tenth of a second); a newer Unicode adds format characters: write them in."""
    expected = {
        chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in {"Cc", "Cf", "Zl", "Zp", "Cs"}
    }
    found = {chr(c) for c in range(sys.maxunicode + 1) if SHOWN_ESCAPED.fullmatch(chr(c))}
    assert found == expected, (
        f"update SHOWN_ESCAPED in reconciler/declare/characters.py (Unicode {unicodedata.unidata_version})"
    )
