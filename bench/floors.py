"""Floors for the benchmark: the least work each step could possibly take.

python bench/floors.py insert DATA DB    bare executemany of persons and users rows
python bench/floors.py drift DB          change 1% of the stored users by hand
python bench/floors.py compare DATA DB   parse (rapidyaml + orjson), read users, compare keyed tuples
"""

from __future__ import annotations

import sqlite3
import sys
import warnings
from pathlib import Path

import orjson

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import ryml


def parse(path: Path) -> dict:
    tree = ryml.parse_in_arena(path.read_bytes())
    buffer = bytearray(ryml.compute_json_length(tree))
    ryml.emit_json_in_place(tree, buffer)
    return orjson.loads(buffer)


def declared_users(data: Path) -> dict[tuple[str, str, str], tuple[str, ...]]:
    users = {}
    for path in sorted(data.rglob("*.yaml")):
        document = parse(path)
        number = document["enterprise"]["number"]
        for quality in document.get("qualities", []):
            for user in quality.get("users", []):
                users[(number, quality["code"], user["ssin"])] = tuple(sorted(user["services"]))
    return users


def insert(data: Path, db: Path) -> None:
    users = declared_users(data)
    connection = sqlite3.connect(db)
    connection.execute(
        "CREATE TABLE persons (enterprise TEXT, ssin TEXT, name TEXT, email TEXT, PRIMARY KEY (enterprise, ssin))"
    )
    connection.execute(
        "CREATE TABLE users (enterprise TEXT, quality TEXT, ssin TEXT, services TEXT, "
        "PRIMARY KEY (enterprise, quality, ssin))"
    )
    with connection:
        connection.executemany(
            "INSERT OR IGNORE INTO persons VALUES (?, ?, ?, ?)", ((e, s, "name", "email") for e, _, s in users)
        )
        connection.executemany(
            "INSERT INTO users VALUES (?, ?, ?, ?)", ((e, q, s, " ".join(v)) for (e, q, s), v in users.items())
        )
    connection.close()


def drift(db: Path) -> None:
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE users SET services = 'dimona' WHERE rowid % 100 = 0")
    connection.close()


def compare(data: Path, db: Path) -> None:
    declared = declared_users(data)
    connection = sqlite3.connect(db)
    stored = {
        (e, q, s): tuple(sorted(v.split()))
        for e, q, s, v in connection.execute("SELECT enterprise, quality, ssin, services FROM users")
    }
    connection.close()
    print(sum(1 for key, value in declared.items() if stored.get(key) != value), "differences")


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"insert": insert, "drift": drift, "compare": compare}[command](*map(Path, arguments))
