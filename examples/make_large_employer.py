"""Generate the large example employer: six qualities, hundreds of users, one file per quality.

Deterministic (fixed seed), so the checked-in files only change when this script does.
All people are made up; their SSINs have valid check digits but belong to nobody we know.

    python examples/make_large_employer.py examples/enterprises/large-employer
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from reconciler.declare.identifiers import nsso_check_digits
from reconciler.render.export import Quoted, dump_yaml

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
    "Ursula",
    "Vincent",
    "Wim",
    "Yasmine",
    "Zoë",
    "Lucas",
    "Emma",
    "Noah",
    "Louise",
    "Arthur",
    "Marie",
    "Mohamed",
    "Julie",
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
    "Hermans",
    "Aerts",
    "El Amrani",
    "Desmet",
    "Lemaire",
    "Michiels",
    "Renard",
]
DOMAIN = "brabant-logistics.example"
ENTERPRISE = "0999.123.457"


def make_ssin(rng: random.Random, taken: set[str]) -> str:
    """A made-up national register number with valid check digits."""
    while True:
        year = rng.randint(1955, 2004)
        body = f"{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(1, 997):03d}"
        base = int(("2" if year >= 2000 else "") + body)
        ssin = f"{body}{97 - base % 97:02d}"
        if ssin not in taken:
            taken.add(ssin)
            return Quoted(ssin)


def person(rng: random.Random, taken: set[str], used_emails: set[str]) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}".lower().replace(" ", "").replace("é", "e").replace("ë", "e")
    email, n = f"{local}@{DOMAIN}", 1
    while email in used_emails:
        n += 1
        email = f"{local}{n}@{DOMAIN}"
    used_emails.add(email)
    return {"ssin": make_ssin(rng, taken), "name": f"{first} {last}", "email": email}


QUALITIES = [
    ("employer", 220, ["dimona", "dmfa", "drs", "checkinatwork", "e-box", "temporary-unemployment"]),
    ("temporary-work-agency", 90, ["dimona", "dmfa", "drs", "student-at-work", "e-box"]),
    ("service-provider", 40, ["dimona", "dmfa", "mahis", "e-box"]),
    ("mandatary", 30, ["dimona", "dmfa", "checkinatwork"]),
    ("social-secretariat", 25, ["dimona", "dmfa", "mahis", "employer-directory"]),
    ("supplementary-pensions-manager", 15, ["db2p", "e-box"]),
]


def main(out: Path) -> None:
    rng = random.Random(20261129)
    taken: set[str] = set()
    emails: set[str] = set()
    number = ENTERPRISE
    main_manager = person(rng, taken, emails)
    files = {
        "enterprise.yaml": {
            "enterprise": {"number": Quoted(number), "name": "Brabant Logistics Group"},
            "main_access_manager": main_manager,
            "co_main_access_managers": [person(rng, taken, emails) for _ in range(2)],
        }
    }
    sender_number = 410000
    for index, (code, users, services) in enumerate(QUALITIES):
        quality: dict = {"code": code}
        if index == 0:
            quality["default"] = True
        if code in ("employer", "temporary-work-agency"):
            registration = rng.randint(1_000_000, 9_999_999)
            quality["nsso_number"] = Quoted(
                f"{rng.choice([10, 24, 36]):03d}-{registration}-{nsso_check_digits(registration):02d}"
            )
        quality["notification_email"] = f"{code}@{DOMAIN}"
        quality["access_manager"] = main_manager if index == 0 else person(rng, taken, emails)
        quality["co_access_managers"] = [person(rng, taken, emails) for _ in range(rng.randint(1, 3))]
        quality["users"] = [
            {**person(rng, taken, emails), "services": sorted(rng.sample(services, rng.randint(1, len(services))))}
            for _ in range(users)
        ]
        batch = [s for s in services if s in ("dimona", "dmfa", "drs", "db2p")]
        if batch:
            sender_number += 1
            channel = rng.choice(["sftp", "rest"])
            sender = {"number": Quoted(sender_number), "channel": channel}
            if channel == "sftp":
                sender["ssh_public_key"] = "ssh-ed25519 " + "".join(
                    rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789") for _ in range(68)
                )
            else:
                sender["certificate_fingerprint"] = ":".join(f"{rng.randrange(256):02X}" for _ in range(32))
            sender["technical_contact"] = {
                "name": "Integration Desk",
                "email": f"integration@{DOMAIN}",
                "phone": "+32 2 555 01 00",
            }
            quality["senders"] = [sender]
            quality["routing"] = [{"service": s, "sender": Quoted(sender_number)} for s in batch]
        files[f"{code}.yaml"] = {"enterprise": {"number": Quoted(number)}, "qualities": [quality]}
    out.mkdir(parents=True, exist_ok=True)
    header = "# yaml-language-server: $schema=../../../schemas/enterprise.schema.json\n"
    header += "# Generated by examples/make_large_employer.py; edit the script, not this file.\n"
    for name, document in files.items():
        (out / name).write_text(header + dump_yaml(document), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
