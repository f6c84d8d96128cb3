"""The published schema and the tool agree on what they accept, mutation by mutation.

Valid files (tests/fixtures/valid, examples/enterprises) are mutated in many ways; for each,
jsonschema with the published schema (on the data as an editor reads it: YAML 1.2 booleans)
and `reconciler validate` must both accept or both refuse.  The exceptions are the rules the
README marks "tool only": they span records (people, blocks, files) or compute check digits.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reconciler.cli import cli

ROOT = Path(__file__).resolve().parent.parent
VALID = sorted((ROOT / "tests" / "fixtures" / "valid").rglob("*.yaml")) + sorted(
    (ROOT / "examples" / "enterprises").rglob("*.yaml")
)
SMALL = ROOT / "examples" / "enterprises" / "small-employer.yaml"
SCHEMA = Draft202012Validator(json.loads((ROOT / "schemas" / "enterprise.schema.json").read_text(encoding="utf-8")))


class EditorLoader(yaml.SafeLoader):
    """YAML as editors read it (1.2 core): only true and false are booleans."""


EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for first in "tTfF":
    EditorLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [first]
    )


def schema_accepts(text: str) -> bool:
    return SCHEMA.is_valid(yaml.load(text, Loader=EditorLoader))


def tool_accepts(path: Path, folder: Path) -> bool:
    result = CliRunner().invoke(cli, ["validate", str(folder)])
    assert "Traceback" not in result.output
    return result.exit_code == 0


def check(original: Path, text: str, tmp_path: Path, tool_only: bool = False) -> None:
    """Write ``text`` in place of ``original`` among its siblings; compare the verdicts."""
    folder = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
    if original.parent.name in ("enterprises",):
        folder.mkdir()
        target = folder / original.name
    else:
        shutil.copytree(original.parent, folder)
        target = folder / original.name
    target.write_text(text, encoding="utf-8")
    schema, tool = schema_accepts(text), tool_accepts(target, folder)
    if tool_only:
        assert schema and not tool, "a tool-only rule: the schema cannot see it, the tool refuses"
    else:
        assert schema == tool, f"schema {'accepts' if schema else 'refuses'}, tool {'accepts' if tool else 'refuses'}"


def dumped(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def load(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=EditorLoader)


@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(ROOT)))
def test_both_accept_every_valid_file(path: Path, tmp_path: Path) -> None:
    check(path, path.read_text(encoding="utf-8"), tmp_path)
    check(path, dumped(load(path)), tmp_path)  # and the same data written out again


GENERIC: dict[str, Callable[[dict], None]] = {
    "unknown top-level field": lambda d: d.update(extra=1),
    "enterprise number as a number": lambda d: d["enterprise"].update(number=999055557),
    "unknown quality": lambda d: [q.update(code="employr") for q in d.get("qualities", [])],
    "quality as text": lambda d: d.update(qualities=["employer"]),
    "unknown field in every quality": lambda d: [q.update(nmae="x") for q in d.get("qualities", [])],
    "unknown service for every user": lambda d: [
        u.update(services=["dimonaa"]) for q in d.get("qualities", []) for u in q.get("users", [])
    ],
    "service no quality offers but one (db2p) for every user": lambda d: [
        u.update(services=["db2p"])
        for q in d.get("qualities", [])
        if q["code"] != "supplementary-pensions-manager"
        for u in q.get("users", [])
    ],
    "every sender switched to sftp without a key": lambda d: [
        s.update(channel="sftp") or s.pop("ssh_public_key", None)
        for q in d.get("qualities", [])
        for s in q.get("senders", [])
    ],
    "every sender switched to soap, keeping what it had": lambda d: [
        s.update(channel="soap") for q in d.get("qualities", []) for s in q.get("senders", [])
    ],
    "nsso_number removed from blocks setting the quality's settings": lambda d: [
        q.pop("nsso_number", None) for q in d.get("qualities", []) if "default" in q or "notification_email" in q
    ],
    "an empty name": lambda d: d["enterprise"].update(name=""),
    "a bad e-mail for every user": lambda d: [
        u.update(email="not-an-address") for q in d.get("qualities", []) for u in q.get("users", [])
    ],
    "a service listed twice": lambda d: [
        u.update(services=u.get("services", ["dimona"]) * 2) for q in d.get("qualities", []) for u in q.get("users", [])
    ],
    "protected as text": lambda d: [q.update(protected="true") for q in d.get("qualities", [])],
}


@pytest.mark.parametrize("mutation", sorted(GENERIC))
@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(ROOT)))
def test_both_agree_on_each_mutation_of_each_valid_file(path: Path, mutation: str, tmp_path: Path) -> None:
    data = copy.deepcopy(load(path))
    GENERIC[mutation](data)
    check(path, dumped(data), tmp_path)


def small() -> dict:
    return load(SMALL)


def employer(data: dict) -> dict:
    return data["qualities"][0]


SENDER = {"number": "230451", "technical_contact": {"name": "Ops", "email": "ops@example.org"}}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 batch"
FINGERPRINT = "3FA29B10C47E55019ABCDEF0123456789ABCDEF0123456789ABCDEF012345678"


def with_sender(**fields: object) -> dict:
    data = small()
    employer(data)["senders"] = [{**SENDER, **fields}]
    return data


SPECIFIC: dict[str, tuple[Callable[[], dict], bool]] = {
    # name: (the mutated small employer, whether only the tool can refuse it)
    "sftp with its key": (lambda: with_sender(channel="sftp", ssh_public_key=KEY), False),
    "sftp without a key": (lambda: with_sender(channel="sftp"), False),
    "sftp with a certificate too": (
        lambda: with_sender(channel="sftp", ssh_public_key=KEY, certificate_fingerprint=FINGERPRINT),
        False,
    ),
    "soap with a certificate": (lambda: with_sender(channel="soap", certificate_fingerprint=FINGERPRINT), False),
    "rest without a certificate": (lambda: with_sender(channel="rest"), False),
    "ftp with a key": (lambda: with_sender(channel="ftp", ssh_public_key=KEY), False),
    "carrier pigeon channel": (lambda: with_sender(channel="pigeon"), False),
    "sender without technical contact": (lambda: {**with_sender(channel="ftp")}, False),
    "route of an offered, structured service": (
        lambda: {**(d := with_sender(channel="ftp")), "qualities": [{**employer(d), "routing": [_route("dmfa")]}]},
        False,
    ),
    "route of a service without structured messages": (
        lambda: {**(d := with_sender(channel="ftp")), "qualities": [{**employer(d), "routing": [_route("limosa")]}]},
        False,
    ),
    "route of a service the quality does not offer": (
        lambda: {**(d := with_sender(channel="ftp")), "qualities": [{**employer(d), "routing": [_route("db2p")]}]},
        False,
    ),
    "route to an undeclared sender": (
        lambda: {**(d := small()), "qualities": [{**employer(d), "routing": [_route("dmfa")]}]},
        True,
    ),
    "the same service routed twice": (
        lambda: {
            **(d := with_sender(channel="ftp")),
            "qualities": [{**employer(d), "routing": [_route("dmfa"), _route("dmfa")]}],
        },
        True,
    ),
    "a user twice in the quality": (
        lambda: {**(d := small()), "qualities": [{**employer(d), "users": employer(d)["users"] * 2}]},
        True,
    ),
    "a split block with only users, no NSSO number anywhere": (
        lambda: {
            **(d := small()),
            "qualities": [{"code": "employer", "default": True, "users": employer(d)["users"]}],
        },
        False,  # refused by both: the block sets a setting (default), so it carries the number
    ),
    "only a block without settings or NSSO number": (
        lambda: {
            **(d := small()),
            "qualities": [{"code": "employer", "users": employer(d)["users"]}],
        },
        True,  # no default quality (H003) and no NSSO number in any block (H016): across blocks
    ),
    "a second access manager in a second block": (
        lambda: {
            **(d := small()),
            "qualities": [employer(d), {"code": "employer", "access_manager": _person(employer(d)["users"][0])}],
        },
        True,
    ),
    "an SSIN with wrong check digits": (
        lambda: {**(d := small()), "main_access_manager": {**d["main_access_manager"], "ssin": "75031366755"}},
        True,
    ),
    "no main access manager": (lambda: {k: v for k, v in small().items() if k != "main_access_manager"}, True),
}


def _person(user: dict) -> dict:
    return {key: value for key, value in user.items() if key != "services"}


def _route(service: str) -> dict:
    return {"service": service, "sender": "230451"}


@pytest.mark.parametrize("name", sorted(SPECIFIC))
def test_both_agree_on_catalogue_and_channel_mutations(name: str, tmp_path: Path) -> None:
    make, tool_only = SPECIFIC[name]
    check(SMALL, dumped(make()), tmp_path, tool_only)


@pytest.mark.parametrize("word", ["yes", "on", "no", "off", "Yes", "OFF"])
def test_yaml11_booleans_are_refused_by_both(word: str, tmp_path: Path) -> None:
    """YAML 1.1 reads `default: yes` as true, YAML 1.2 (editors) as text: both refuse it, so a
    file never means one thing to the tool and another to the editor."""
    text = SMALL.read_text(encoding="utf-8").replace("default: true", f"default: {word}")
    check(SMALL, text, tmp_path)
    assert not schema_accepts(text)
