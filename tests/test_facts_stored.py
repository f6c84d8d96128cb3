"""Facts as stored: a column whose values are all the same is kept once (``{"same": value}``), and
read back as the full column; any other shape, or facts of another format, is not taken."""

from __future__ import annotations

import orjson
import pytest

from reconciler.plan.facts import COLUMNS, FORMAT, _compact, facts_from

SKELETON = {"enterprise": {"number": "0999055557"}, "qualities": [{"code": "employer"}]}
SSINS = ["58022754967", "61061906014", "85073003328"]


def users(**columns: list) -> dict[str, list]:
    """Three users, every column as given or empty of anything (None, no profiles)."""
    found: dict[str, list] = {name: [None] * 3 for name in COLUMNS}
    found.update(quality=["employer"] * 3, ssin=list(SSINS), name=["A", "B", "C"], profiles=[[], [], []])
    found.update(columns)
    return found


def stored(columns: dict) -> dict:
    """As the store and the cache keep them: compacted, then through JSON."""
    return orjson.loads(orjson.dumps({"format": FORMAT, "skeleton": SKELETON, "users": _compact(columns)}))


@pytest.mark.parametrize(
    ("columns", "kept_once"),
    [
        (users(), {"quality", "email", "language", "until", "profiles", "github", "gitlab"}),
        (
            users(name=["A", "A", "A"]),
            {"quality", "name", "email", "language", "until", "profiles", "github", "gitlab"},
        ),
        (users(language=["nl", None, "nl"]), {"quality", "email", "until", "profiles", "github", "gitlab"}),
        (
            users(profiles=[["night"], ["night"], ["night"]]),
            {"quality", "email", "language", "until", "profiles", "github", "gitlab"},
        ),
        (users(profiles=[["night"], [], ["night"]]), {"quality", "email", "language", "until", "github", "gitlab"}),
        (
            users(until=["2027-01-31", "2027-01-31", None]),
            {"quality", "email", "language", "profiles", "github", "gitlab"},
        ),
        ({name: [] for name in COLUMNS}, set()),  # a file without users
        ({name: values[:1] for name, values in users().items()}, set(COLUMNS) - {"ssin"}),  # one user
    ],
)
def test_columns_of_one_value_are_kept_once_and_read_back_whole(columns: dict, kept_once: set) -> None:
    data = stored(columns)
    assert {name for name, column in data["users"].items() if isinstance(column, dict)} == kept_once
    assert type(data["users"]["ssin"]) is list  # SSINs are never kept once
    facts = facts_from(data)
    assert facts is not None
    assert facts.users.columns == columns
    profiles = facts.users.columns["profiles"]
    assert len({id(names) for names in profiles}) == len(profiles)  # each user's own list


@pytest.mark.parametrize(
    "damage",
    [
        {"ssin": {"same": "58022754967"}},  # SSINs kept once: never written
        {"quality": {"same": "employer", "count": 3}},  # another key beside "same"
        {"quality": {"all": "employer"}},
        {"quality": {}},
        {"quality": "employer"},  # neither a list nor a kept value
        {"language": {"same": 3}},  # a value of the wrong type
        {"profiles": {"same": "night"}},  # profiles are lists
        {"profiles": {"same": [1]}},
        {"name": {"same": None}},  # names are text
        {"quality": ["employer", "employer"]},  # a column shorter than the SSINs
    ],
)
def test_damaged_stored_columns_are_not_taken(damage: dict) -> None:
    """A tampered store or cache: the facts are ignored, and the file is read again."""
    data = stored(users())
    data["users"].update(damage)
    assert facts_from(data) is None


def test_facts_of_the_earlier_format_are_not_taken() -> None:
    data = stored(users())
    data["format"] = FORMAT - 1
    assert facts_from(data) is None
    data["users"] = users()  # the earlier shape: every column a list
    assert facts_from(data) is None
