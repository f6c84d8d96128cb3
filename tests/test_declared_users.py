"""Users are kept as ``DeclaredUser`` named tuples, not pydantic models: the schema is their only gate.

``declared.document_model`` validates a document with its users taken out and turns each user's
data into a named tuple.  That is only right if the schema (the compiled validator the tool asks)
refuses every user the ``User`` model would refuse, and if the tuple holds exactly what the model
would.  Hypothesis draws users of every shape, hostile ones included, and checks both.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.declare.declared import DeclaredEnterprise, document_model, group_documents, users_of
from reconciler.declare.model import DeclaredUser, EnterpriseDocument, User
from reconciler.declare.reading import load_file
from reconciler.declare.schema import is_valid

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "examples" / "enterprises" / "small-employer.yaml"
BASE = yaml.safe_load(SMALL.read_text(encoding="utf-8"))

# Text that sits near the edges of the patterns: Unicode spaces (which regular-expression engines
# treat differently), line breaks, "@" and dots, NUL, right-to-left marks, long runs.
EDGES = [
    "",
    " ",
    "a@b.c",
    "a b@c.d",
    "a@b.c\n",
    "a\u00a0@b.c",
    "a@b\u2028.c",
    "a@b.c\u3000",
    "x@y.z ",
    "@b.c",
    "a@.c",
    "a@@b.c",
    "\u202eevil@b.c",
    "a\x00@b.c",
    "2026-12-31",
    "2026-1-31",
    "2026-12-31\n",
    "٢٠٢٦-١٢-٣١",  # Arabic-Indic digits: \d in some engines
    "dimona",
    "dmfa",
    "payroll",
    "Payroll",
    "pay roll",
    "octo-cat",
    "octo/cat",
    "-octo",
    "nl",
    "NL",
    "58022754967",
    "x" * 300,
]
TEXT = st.one_of(st.sampled_from(EDGES), st.text(max_size=12))
VALUE = st.one_of(
    TEXT,
    st.booleans(),
    st.none(),
    st.integers(-2, 2),
    st.lists(TEXT, max_size=3),
    st.lists(st.sampled_from(["dimona", "dmfa", "checkinatwork", "dimona"]), max_size=4),
)
KEYS = ["ssin", "name", "email", "github", "gitlab", "language", "protected", "until", "services", "profiles"]


@st.composite
def users(draw: st.DrawFn) -> dict:
    """A user mostly valid, with some of its fields replaced, removed or added."""
    user: dict = {
        "ssin": "58022754967",
        "name": "Jan Mertens",
        "email": "jan@goudenkorst.example",
        "services": ["dimona"],
    }
    optional = {
        "github": "octo-cat",
        "gitlab": "octo/cat",
        "language": "fr",
        "protected": draw(st.booleans()),
        "until": "2027-01-31",
        "profiles": ["payroll"],
    }
    user.update(draw(st.dictionaries(st.sampled_from(sorted(optional)), st.just(None))))
    user.update((key, optional[key]) for key in list(user) if key in optional)
    for key in draw(st.lists(st.sampled_from([*KEYS, "extra", "Ssin"]), max_size=4, unique=True)):
        if draw(st.booleans()) and key in user:
            del user[key]
        else:
            user[key] = draw(VALUE)
    return user


def document_with(user: dict) -> dict:
    document = copy.deepcopy(BASE)
    document["qualities"][0]["users"] = [user]
    document.pop("profiles", None)
    if "profiles" in user and isinstance(user["profiles"], list):
        document["profiles"] = {name: ["dimona"] for name in user["profiles"] if isinstance(name, str)}
    return document


def as_model_fields(user: User) -> tuple:
    return tuple(tuple(value) if isinstance(value, list) else value for value in (getattr(user, k) for k in KEYS))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(users())
def test_the_schema_refuses_every_user_the_model_refuses_and_the_tuple_holds_what_the_model_would(user: dict) -> None:
    document = document_with(user)
    if not is_valid(document):
        return
    try:
        model = User.model_validate(user)
    except ValidationError as error:  # pragma: no cover - the failure this test exists to find
        raise AssertionError(f"the schema let through a user the model refuses: {user!r}\n{error}") from None
    declared = users_of(document_model(document).qualities[0])
    assert declared == [DeclaredUser(*as_model_fields(model))]
    assert type(declared[0]) is DeclaredUser


def test_a_document_as_model_equals_pydantics_own_but_for_the_users_kind() -> None:
    for path in sorted((ROOT / "examples" / "enterprises").rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        ours, theirs = document_model(data), EnterpriseDocument.model_validate(data)
        assert ours.model_dump(exclude={"qualities": {"__all__": {"users"}}}) == theirs.model_dump(
            exclude={"qualities": {"__all__": {"users"}}}
        )
        for mine, reference in zip(ours.qualities, theirs.qualities, strict=True):
            assert users_of(mine) == [DeclaredUser(*as_model_fields(u)) for u in reference.users]


def test_the_data_given_is_left_as_it_was() -> None:
    data = yaml.safe_load(SMALL.read_text(encoding="utf-8"))
    before = copy.deepcopy(data)
    document_model(data)
    assert data == before


def test_both_readers_give_users_as_named_tuples(tmp_path: Path) -> None:
    """The fast path and the reference loader (a file with a comment after a value goes there) agree."""
    plain = tmp_path / "plain.yaml"
    plain.write_text(SMALL.read_text(encoding="utf-8"), encoding="utf-8")
    traps = tmp_path / "traps.yaml"
    traps.write_text(
        SMALL.read_text(encoding="utf-8").replace('"0999.055.557"', '"0999.055.557" # here'), encoding="utf-8"
    )
    found = []
    for path in (plain, traps):
        document, problems = load_file(path)
        assert document is not None and not problems
        enterprises, problems = group_documents([document])
        assert not problems
        enterprise: DeclaredEnterprise = next(iter(enterprises.values()))
        found.append([users_of(block.model) for blocks in enterprise.qualities().values() for block in blocks])
    assert found[0] == found[1]
    assert all(type(user) is DeclaredUser for quality in found[0] for user in quality)
