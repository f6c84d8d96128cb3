"""Generate a synthetic registry: realistic, valid, deterministic from a seed.

Enterprise sizes are skewed (a few very large employers and social secretariats, many
small ones: 10 to 50,000 users each); each enterprise activates 1 to 7 qualities (all the
catalogue has) and large qualities are split over files of at most 1,000 users, the way
departments own their own files.  Every SSIN and enterprise number has valid check digits.

With ``--giant SHARE`` the registry has another shape: one enterprise holds that share of
all users (all qualities, split over files of at most 1,000 users), and the rest is a long
tail of small enterprises (10 to 2,000 users, one to three qualities each), the shape of a
social secretariat's repository next to one very large employer.

    python bench/generate.py USERS OUT_DIR [--seed N] [--giant SHARE]
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

from reconciler.declare.catalogue import load_catalogue
from reconciler.declare.identifiers import nsso_check_digits

FILE_USERS = 1_000
MIN_USERS, MAX_USERS = 10, 50_000
TAIL_MAX_USERS, TAIL_QUALITIES = 2_000, 3
FIRST = [
    "An",
    "Bart",
    "Chloé",
    "Dirk",
    "Els",
    "Fatima",
    "Geert",
    "Hanne",
    "Ilse",
    "Jan",
    "Karim",
    "Lien",
    "Marc",
    "Nathalie",
    "Olivier",
    "Pieter",
    "Rania",
    "Sofie",
    "Thomas",
    "Vincent",
    "Wim",
    "Yasmine",
    "Zoë",
    "Lucas",
]
LAST = [
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Dupont",
    "Martin",
    "Simon",
    "Leclercq",
    "Van den Broeck",
    "Vermeulen",
    "Aerts",
]


def enterprise_number(index: int) -> str:
    base = 9_000_000 + index  # 0900.000.0xx onwards: made-up numbers with valid check digits
    return f"{base:08d}{97 - base % 97:02d}"


class People:
    """Unique made-up SSINs: birth date plus a sequence number, with valid check digits."""

    def __init__(self) -> None:
        self.next = 0

    def ssin(self) -> str:
        n = self.next
        self.next += 1
        day, rest = n % 28 + 1, n // 28
        month, rest = rest % 12 + 1, rest // 12
        serial, rest = rest % 997 + 1, rest // 997
        year = 1940 + rest % 60  # 1940..1999: 28 * 12 * 997 * 60 = 20 million distinct numbers
        body = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
        return f"{body}{97 - int(body) % 97:02d}"


def sizes(total: int, rng: random.Random) -> list[int]:
    """Skewed enterprise sizes (Pareto), each within bounds, adding up to ``total``."""
    found: list[int] = []
    remaining = total
    while remaining > 0:
        size = min(MAX_USERS, max(MIN_USERS, int(MIN_USERS * rng.paretovariate(0.6))))
        size = min(size, remaining) if remaining - size >= MIN_USERS or size >= remaining else size
        size = min(size, remaining)
        found.append(size)
        remaining -= size
    return found


def tail_sizes(total: int, rng: random.Random) -> list[int]:
    """Small enterprise sizes (Pareto, mostly a few dozen users), adding up to ``total``."""
    found: list[int] = []
    remaining = total
    while remaining > 0:
        size = min(TAIL_MAX_USERS, max(MIN_USERS, int(MIN_USERS * rng.paretovariate(0.8))), remaining)
        found.append(size)
        remaining -= size
    return found


def person_lines(indent: str, ssin: str, rng: random.Random, first_key: str = "ssin") -> list[str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first}.{last}.{ssin[-5:]}".lower().replace(" ", "").replace("é", "e").replace("ë", "e")
    return [
        f'{indent}{first_key}: "{ssin}"',
        f"{indent.replace('- ', '  ')}name: {first} {last}",
        f"{indent.replace('- ', '  ')}email: {email}@example.org",
    ]


def generate(users: int, out: Path, seed: int = 1, giant: float = 0.0) -> list[Path]:
    rng = random.Random(seed)
    catalogue = load_catalogue()
    codes = list(catalogue.qualities)
    if out.exists():
        shutil.rmtree(out)
    written: list[Path] = []
    if giant:
        largest = round(users * giant)
        plan = [largest, *tail_sizes(users - largest, rng)]
    else:
        plan = sizes(users, rng)
    for index, size in enumerate(plan):
        number = enterprise_number(index)
        folder = out / f"e{index:05d}-{number}"
        folder.mkdir(parents=True)
        people = People()
        main = people.ssin()
        header = [
            "# yaml-language-server: $schema=../../../schemas/enterprise.schema.json",
            "enterprise:",
            f'  number: "{number}"',
            f"  name: Enterprise {index}",
            "main_access_manager:",
        ]
        header += person_lines("  ", main, rng)
        (folder / "enterprise.yaml").write_text("\n".join(header) + "\n", encoding="utf-8")
        written.append(folder / "enterprise.yaml")
        others = [c for c in codes if c != "employer"]
        if not giant:
            extra = rng.randint(0, len(codes) - 1)
        else:  # the giant activates every quality; the tail one to three
            extra = len(others) if index == 0 else rng.randint(0, TAIL_QUALITIES - 1)
        chosen = ["employer", *rng.sample(others, extra)]
        shares = [rng.random() + 0.2 for _ in chosen]
        counts = [int(size * s / sum(shares)) for s in shares]
        counts[0] += size - sum(counts)
        for position, (code, count) in enumerate(zip(chosen, counts, strict=True)):
            offered = sorted(catalogue.qualities[code].services)
            blocks = max(1, -(-count // FILE_USERS))
            for block in range(blocks):
                lines = ["enterprise:", f'  number: "{number}"', "qualities:", f"  - code: {code}"]
                if block == 0:
                    if position == 0:
                        lines.append("    default: true")
                    if "nsso_number" in catalogue.qualities[code].requires:
                        registration = 1_000_000 + index * 10 + position
                        lines.append(f'    nsso_number: "010-{registration}-{nsso_check_digits(registration):02d}"')
                    lines.append(f"    notification_email: {code}@e{index}.example.org")
                    lines.append("    access_manager:")
                    lines += person_lines("      ", people.ssin(), rng)
                in_block = count // blocks + (1 if block < count % blocks else 0)
                if in_block:
                    lines.append("    users:")
                for _ in range(in_block):
                    lines += person_lines("      - ", people.ssin(), rng)
                    lines.append(f"        services: [{', '.join(rng.sample(offered, min(3, len(offered))))}]")
                path = folder / f"{code}-{block:03d}.yaml"
                path.write_text("\n".join(lines) + "\n", encoding="utf-8")
                written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("users", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--giant", type=float, default=0.0, help="share of all users in one enterprise")
    arguments = parser.parse_args()
    files = generate(arguments.users, arguments.out, arguments.seed, arguments.giant)
    print(f"{len(files)} files, {arguments.users} users in {arguments.out}")


if __name__ == "__main__":
    main()
