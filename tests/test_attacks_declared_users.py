"""Attacks on declared users kept as ``DeclaredUser`` named tuples (``declared.document_model``).

The change makes the schema the only gate of a user's data, and has every consumer of users take
named tuples where it took ``User`` models.  These tests look for users the schema lets through and
the model would refuse, for data that reaches users past the gate, for places that still meet
``User`` models, and at the stored-rows side of the same series (``Table.collect``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest
import yaml
from conftest import new_store_url
from pydantic import ValidationError
from test_attacks_patch import _tamper_skeleton, same, user, world  # noqa: F401 - ``world`` is a fixture

from reconciler.declare.declared import group_documents, users_of
from reconciler.declare.model import DeclaredUser, User
from reconciler.declare.reading import load_file
from reconciler.declare.schema import is_valid
from reconciler.plan.facts import COLUMNS, FORMAT, facts_data, facts_from
from reconciler.records.state import Kind
from reconciler.store.tables import TABLES

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "examples" / "enterprises" / "small-employer.yaml"
SMALL_TEXT = SMALL.read_text(encoding="utf-8")
BASE = yaml.safe_load(SMALL_TEXT)
JAN = "email: jan@goudenkorst.example"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: the attack is on what the tool does with the facts it reads, not on the backend."""
    return new_store_url("sqlite", tmp_path)


def _document_with_user(**fields: object) -> tuple[dict, dict]:
    document = copy.deepcopy(BASE)
    person = {"ssin": "58022754967", "name": "Jan Mertens", "email": "jan@goudenkorst.example", "services": ["dimona"]}
    person.update(fields)
    document["qualities"][0]["users"] = [person]
    return document, person


# --- the schema as the users' only gate ------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["jan\x85x@goudenkorst.example", "\x85jan@goudenkorst.example", "jan@goudenkorst.example\x85"],
)
def test_the_schema_refuses_every_e_mail_address_the_user_model_refuses(email: str) -> None:
    """The compiled validator (jsonschema_rs) would read ``\\s`` as ECMAScript does, without U+0085
    (NEXT LINE), where pydantic's Rust regex counts it: the e-mail pattern spells its blanks out, so
    the schema, which ``document_model`` trusts in place of ``User``, refuses what ``User`` refuses.
    (End to end, rule S006 keeps such a file out as well: see the next test.)"""
    document, person = _document_with_user(email=email)
    with pytest.raises(ValidationError):
        User.model_validate(person)
    assert not is_valid(document)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (JAN, "email: jan\x85x@goudenkorst.example"),  # U+0085 written as it is
        (JAN, 'email: "jan\\Nx@goudenkorst.example"'),  # YAML's escape for U+0085
        (JAN, 'email: "jan@goudenkorst.example\\n"'),  # Python's "$" matches before a final line feed
        ("services: [dimona, dmfa]", 'services: [dimona, dmfa]\n        until: "2027-12-31\\n"'),
        ("services: [dimona, dmfa]", 'services: [dimona, dmfa]\n        github: "octo-cat\\n"'),
        ("services: [dimona, dmfa]", 'services: [dimona, dmfa]\n        profiles: ["payroll\\n"]'),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_a_user_the_model_refuses_never_becomes_a_declared_user(tmp_path: Path, old: str, new: str, fast: bool) -> None:
    """Values one of the two validators (the compiled one, or Python's jsonschema which explains the
    compiled one's refusals and whose silence also lets a document through) accepts and ``User``
    refuses: the enterprise is left out, whichever loader read the file."""
    path = tmp_path / "e.yaml"
    text = SMALL_TEXT.replace(old, new, 1)
    if "payroll" in new:
        text += "\nprofiles:\n  payroll: [dimona]\n"
    path.write_text(text, encoding="utf-8")
    document, problems = load_file(path, fast=fast)
    assert document is not None
    declarations, found = group_documents([document])
    assert declarations == {}
    assert problems + found


def test_a_profile_name_with_a_final_line_feed_is_refused(tmp_path: Path) -> None:
    """Keys are not checked by S006, and Python's jsonschema (``propertyNames``) accepts "payroll\\n":
    the document is refused by the model of its non-user part, never declared."""
    path = tmp_path / "e.yaml"
    text = SMALL_TEXT.replace("services: [dimona, dmfa]", "services: [dimona, dmfa]\n        profiles: [payroll]", 1)
    path.write_text(text + '\nprofiles:\n  "payroll\\n": [dimona]\n', encoding="utf-8")
    for fast in (True, False):
        document, _ = load_file(path, fast=fast)
        assert document is not None
        declarations, found = group_documents([document])
        assert declarations == {} and found


# --- users that are not ``DeclaredUser``s: kept facts -------------------------------------------------


def _skeleton_with_a_user() -> dict:
    skeleton = copy.deepcopy(BASE)
    for quality in skeleton["qualities"]:
        quality.pop("users", None)
    skeleton["qualities"][0]["users"] = [
        {"ssin": "58022754967", "name": "Jan Mertens", "email": "jan@goudenkorst.example", "services": ["dimona"]}
    ]
    return skeleton


def test_kept_facts_whose_skeleton_holds_a_user_are_refused() -> None:
    """``facts_from`` validates a stored skeleton with pydantic: users put back into it (a tampered
    store or cache; ``skeleton_of`` never writes them) would become ``User`` models, which the rules
    and ``declared_state`` never meet.  Such facts are refused: the enterprise is read whole."""
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    assert facts_from({"format": FORMAT, "skeleton": _skeleton_with_a_user(), "users": columns}) is None


def test_kept_facts_whose_skeleton_holds_users_neither_crash_nor_add_grants(world) -> None:  # noqa: F811
    """End to end: a tampered store puts a user no file declares into an unchanged file's kept
    skeleton.  The plan from the changed files must say what a full read says: taking such users
    (as models or as ``DeclaredUser``s) would plan a person and a user that no file declares, or
    stop a rule on a kind of user it never meets.  Only refusing the facts (a full read) is right."""
    _tamper_skeleton(world, lambda facts: facts["skeleton"]["qualities"][0].update(users=[user(40)]))
    incremental, full = world.both()
    same(incremental, full)


# --- consumers of users --------------------------------------------------------------------------------


def test_facts_of_named_tuple_users_are_written_as_before(tmp_path: Path) -> None:
    """Facts are JSON: a user's profiles (a tuple now) are written as a list, and read back."""
    path = tmp_path / "e.yaml"
    text = SMALL_TEXT.replace("services: [dimona, dmfa]", "services: [dimona]\n        profiles: [payroll]", 1)
    path.write_text(text + "\nprofiles:\n  payroll: [dmfa]\n", encoding="utf-8")
    document, _ = load_file(path)
    declarations, found = group_documents([document])
    assert not found
    (declaration,) = declarations.values()
    assert all(type(u) is DeclaredUser for b in declaration.qualities()["employer"] for u in users_of(b.model))
    (data,) = facts_data(declaration).values()
    stored = orjson.loads(orjson.dumps(data))
    assert stored["users"]["profiles"] == [["payroll"], []]
    facts = facts_from(stored)
    assert facts is not None and facts.users.profiles() == {"payroll"}


# --- stored rows (Table.collect) --------------------------------------------------------------------


def test_collect_keeps_a_first_row_whose_enterprise_is_null() -> None:
    """A first row whose enterprise is NULL must not be taken for "no enterprise yet" and written into
    a throwaway dictionary.  A tampered SQLite store can hold such a row: ``enterprises.number`` is a
    TEXT primary key of a rowid table, which SQLite lets be NULL (its CHECK on the length is then
    unknown, so it passes); the store must still read that enterprise with its header record."""
    into: dict = {}
    TABLES[Kind.ENTERPRISE].collect([(None, "Ghost", None, None, None)], into)
    assert len(into.get(None, {})) == 1
    TABLES[Kind.ENTERPRISE].collect([(None, "Ghost", None, None, None), ("0900000048", "A", None, None, None)], into)
    assert len(into[None]) == 1 and len(into["0900000048"]) == 1


def test_a_value_only_the_compiled_validator_refuses_is_still_refused_where_it_stands(tmp_path: Path) -> None:
    """Python's regular expressions let "$" match before a final line feed, so Python's jsonschema (which
    words the errors) finds nothing wrong with an end date "2026-12-31\\n" that the compiled validator
    refuses.  The document must not pass for valid for want of words: the compiled validator's own
    error is reported, at the value."""
    from reconciler.declare.schema import S_BAD_VALUE, validate_document

    path = tmp_path / "e.yaml"
    path.write_text(
        SMALL_TEXT.replace("services: [checkinatwork]", 'services: [checkinatwork]\n        until: "2026-12-31\\n"')
    )
    document, _ = load_file(path)
    assert document is not None
    found = [problem for problem in validate_document(document) if problem.rule == S_BAD_VALUE]
    line = SMALL_TEXT.splitlines().index("        services: [checkinatwork]") + 2
    assert [(problem.position.line, problem.position.column) for problem in found] == [(line, 16)]
    assert "2026-12-31" in found[0].message
