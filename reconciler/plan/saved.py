"""Saved plans: ``plan --out FILE`` writes one, ``apply FILE`` applies exactly it.

The file holds the plan (the same document ``plan --format json`` prints), the digest of
the declared files it was computed from, the store versions it was read at, and a
checksum over all of it.  The checksum is SHA-256, or HMAC-SHA-256 keyed by
``RECONCILER_PLAN_KEY`` when that is set, so that only holders of the key can produce a
file that apply accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import orjson

from reconciler import __version__
from reconciler.plan.document import plan_document, plan_from_document
from reconciler.plan.plan import Plan
from reconciler.records import clock
from reconciler.store.files import write_private

FORMAT = "reconciler-plan"
FORMAT_VERSION = "1.1"  # 1.1: the identity of the store the plan was made on
MAX_BYTES = 512 * 1024 * 1024  # a plan of a million new users is about 400 MB
KEY_ENV = "RECONCILER_PLAN_KEY"


class PlanFileError(Exception):
    """The file is not a saved plan, or it was altered after it was written."""


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    desired_digest: str
    created_at: str
    checksum: str
    store: str  # identity (lineage) of the store the plan was computed against


def is_plan_file(path: Path) -> bool:
    """Whether ``path`` looks like a saved plan rather than YAML (it is JSON naming our format)."""
    try:
        if not path.is_file():  # never open a FIFO or a device just to look at it: that can block
            return False
        with path.open("rb") as handle:
            head = handle.read(200)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and FORMAT.encode() in head


def plan_hash(plan: Plan) -> str:
    """SHA-256 over what the plan does: the same plan has the same hash, saved or not.

    The changes count through the digest of each run of them (``records.changes``): the worker
    processes that plan the changes make those digests, so a first apply's hash does not read its
    millions of changes again.
    """
    hasher = hashlib.sha256(
        orjson.dumps(
            [
                plan.versions,
                [tuple(r.__dict__.values()) for r in plan.refusals],
                plan.actor,
                plan.sync,
                [(d.address, d.applied, d.found) for d in plan.drift],  # apply records the adopted ones
            ]
        )
    )
    for digest in plan.changes.digests():
        hasher.update(digest)
    return hasher.hexdigest()


def _facts(document: dict, checksum: str) -> tuple[tuple[str, str], ...]:
    """What each file gave (``plan.facts``), taken from a plan file only when it is signed.

    Apply keeps the facts, and later plans take them for what unchanged files declare: from a
    file anyone could have rewritten (an unkeyed checksum), they are dropped, and the next plan
    reads those files again.
    """
    facts = document.get("facts")
    if not checksum.startswith("hmac-sha256:") or not isinstance(facts, dict):
        return ()
    if not all(isinstance(path, str) and isinstance(text, str) for path, text in facts.items()):
        raise ValueError("facts are text by path")
    return tuple(sorted(facts.items()))


def _checksum(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    key = os.environ.get(KEY_ENV)
    if key:
        return "hmac-sha256:" + hmac.new(key.encode(), canonical, hashlib.sha256).hexdigest()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def write_plan_file(path: Path, plan: Plan, desired_digest: str, store: str, now: datetime | None = None) -> str:
    """Write the plan (owner-only: it names people); return its checksum.

    ``store`` is the identity of the store the plan was computed against: apply refuses the
    plan on any other store.
    """
    body = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "reconciler_version": __version__,
        "created_at": (now or clock.now()).isoformat(timespec="seconds"),
        "store": store,
        "desired_digest": desired_digest,
        "plan": plan_document(plan),
    }
    if plan.facts and os.environ.get(KEY_ENV):  # see ``_facts``
        body["facts"] = dict(plan.facts)
    checksum = _checksum(body)
    write_private(path, json.dumps({**body, "checksum": checksum}, indent=2, ensure_ascii=False) + "\n")
    return checksum


def read_plan_file(path: Path, verify: bool = True) -> SavedPlan:
    """The saved plan; with ``verify`` (always, unless it is only compared with another plan) its checksum too."""
    try:
        if not path.is_file():
            raise PlanFileError(f"{path}: not a regular file")
        if path.stat().st_size > MAX_BYTES:
            raise PlanFileError(f"{path}: larger than any plan ({MAX_BYTES // 2**20} MiB)")
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PlanFileError(f"{path}: not a readable plan file ({str(error)[:200]})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PlanFileError(f"{path}: not a reconciler plan file")
    checksum = document.pop("checksum", None)
    if not isinstance(checksum, str) or (verify and not hmac.compare_digest(checksum, _checksum(document))):
        keyed = " (is RECONCILER_PLAN_KEY the one it was written with?)" if os.environ.get(KEY_ENV) else ""
        raise PlanFileError(f"{path}: the checksum does not match: the plan was altered after it was written{keyed}")
    if document.get("format_version") != FORMAT_VERSION:
        shown = str(document.get("format_version"))[:20]
        raise PlanFileError(f"{path}: plan format {shown} is not {FORMAT_VERSION}: plan again with this version")
    try:
        plan = replace(plan_from_document(document["plan"]), facts=_facts(document, checksum))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise PlanFileError(f"{path}: the plan inside is malformed ({str(error)[:200]})") from None
    return SavedPlan(plan, document["desired_digest"], document["created_at"], checksum, str(document["store"]))
