"""The official YAML test suite through both readers: one reading of every file.

The fast path (rapidyaml + orjson) may only vouch for a file when the position-tracking
reference loader (PyYAML) accepts it and reads exactly the same data; and no reader may
accept what the suite marks invalid, except the reference loader's known leniencies, each
listed (with its reason) here and in the README.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.declare.fastload import load_fast
from reconciler.declare.reading import load_file

SUITE = Path(__file__).resolve().parent / "yaml-test-suite"
ROOT = SUITE.parent.parent
CASES = sorted(path.parent for path in SUITE.rglob("in.yaml"))

# Invalid YAML that PyYAML reads anyway, and that nobody writing an enterprise file would
# plausibly write; the plausible ones are refused by the reference loader (Y008, Y009).
KNOWN_LENIENCIES = {
    "G5U8": "plain '-' entries in a flow sequence ([-, -])",
    "YJV2": "a plain '-' alone in a flow sequence ([-])",
    "S98Z": "leading empty lines of a folded block scalar indented more than its content",
}


def case_id(case: Path) -> str:
    return case.relative_to(SUITE).as_posix()


def reference(case: Path):
    """The reference loader's reading, or None when it refuses the file (any finding is a refusal)."""
    document, problems = load_file(case / "in.yaml")
    return document if document is not None and not problems else None


def test_the_suite_is_all_here() -> None:
    assert len(CASES) == 402
    assert sum((case / "error").exists() for case in CASES) == 94
    assert (SUITE / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_one_reading_of_every_case(case: Path) -> None:
    raw = (case / "in.yaml").read_bytes()
    fast = load_fast(raw, str(case / "in.yaml"))
    exact = reference(case)
    invalid = (case / "error").exists()
    if fast is not None:
        assert exact is not None, "the fast path vouches for a file the reference loader refuses"
        assert fast.data == exact.data, "the fast path reads other data than the reference loader"
        assert not invalid, "the fast path vouches for invalid YAML"
    if invalid and exact is not None:
        assert case_id(case) in KNOWN_LENIENCIES, "the reference loader accepts invalid YAML not listed as lenient"


def test_every_known_leniency_is_real_and_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, reason in KNOWN_LENIENCIES.items():
        case = SUITE / name
        assert (case / "error").exists(), name
        assert reference(case) is not None, f"{name} is refused now: remove it from the leniencies"
        assert f"`{name}`" in readme, f"the README does not list {name} ({reason})"
