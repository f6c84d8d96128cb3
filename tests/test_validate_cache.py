"""validate's cache: a second run reads only what changed, and no cache can make an invalid tree pass.

Every result is compared with reading the whole tree at once (``load_desired``), the
reference; with and without the cache, in one process and in several.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import reconciler.plan.partial
from reconciler.plan import validation, verdicts
from reconciler.plan.desired import load_desired
from reconciler.plan.validation import Validated, validate_paths
from tests.conftest import EXAMPLES, FIXTURES, ROOT


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small registry of the benchmark's giant shape: one large enterprise and a tail of small ones."""
    folder = tmp_path_factory.mktemp("generated") / "data"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "1500", str(folder), "--seed", "11", "--giant", "0.3"],
        check=True,
        capture_output=True,
    )
    return folder


@pytest.fixture
def registry(generated: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "registry"
    shutil.copytree(generated, copy)
    return copy


@pytest.fixture(autouse=True)
def settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files here were all written a moment ago: remember their hashes all the same (one test says why not)."""
    monkeypatch.setattr(verdicts, "SETTLED_NS", 0)


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file validation reads (in this process: the tests run it in one)."""
    seen: list[str] = []
    original = validation.load_files

    def counting(files, fast=False):
        files = list(files)
        seen.extend(str(f) for f in files)
        return original(files, fast)

    monkeypatch.setattr(validation, "load_files", counting)
    monkeypatch.setattr(reconciler.plan.partial, "load_files", counting)  # the changed files of an enterprise
    return seen


def reference(paths: list[Path]) -> tuple[list, int, int]:
    desired, problems = load_desired(paths)
    return problems, desired.files, len(desired.enterprises)


def agrees(result: Validated, paths: list[Path]) -> None:
    problems, files, enterprises = reference(paths)
    assert result.problems == problems
    if not problems:
        assert (result.files, result.enterprises) == (files, enterprises)


def enterprise_of(path: Path) -> list[Path]:
    return sorted(path.parent.glob("*.yaml"))


def test_a_second_run_reads_nothing_and_one_change_reads_one_enterprise(
    registry: Path, tmp_path: Path, read: list[str]
) -> None:
    cache = tmp_path / "cache"
    first = validate_paths([registry], cache, workers=1)
    everything = sorted(str(p) for p in registry.rglob("*.yaml"))
    assert sorted(read) == everything and first.read == len(everything)
    agrees(first, [registry])

    read.clear()
    second = validate_paths([registry], cache, workers=1)
    assert read == [] and second.read == 0
    assert (second.files, second.enterprises, second.problems) == (first.files, first.enterprises, [])
    assert second.cached == first.enterprises

    changed = sorted(registry.glob("e00003-*/employer-000.yaml"))[0]
    changed.write_text(changed.read_text().replace("name: ", "name: X", 1), encoding="utf-8")
    read.clear()
    third = validate_paths([registry], cache, workers=1)
    assert read == [str(changed)] and third.read == 1  # the others' facts were kept
    assert (third.files, third.enterprises, third.problems) == (first.files, first.enterprises, [])
    agrees(third, [registry])

    changed.write_text(changed.read_text().replace("name: X", "name: Y", 1), encoding="utf-8")
    (cache / verdicts.FACTS_FOLDER / enterprise_of(changed)[0].parent.name.split("-")[1]).unlink()
    read.clear()
    fourth = validate_paths([registry], cache, workers=1)  # facts gone: the enterprise is read whole
    assert sorted(read) == [str(p) for p in enterprise_of(changed)]
    agrees(fourth, [registry])


def test_problems_are_never_cached(registry: Path, tmp_path: Path, read: list[str]) -> None:
    cache = tmp_path / "cache"
    broken = sorted(registry.glob("e00002-*/enterprise.yaml"))[0]
    broken.write_text(broken.read_text().replace("ssin: ", "ssin: 1", 1), encoding="utf-8")
    first = validate_paths([registry], cache, workers=1)
    assert first.problems and first.problems == reference([registry])[0]
    read.clear()
    again = validate_paths([registry], cache, workers=1)
    assert again.problems == first.problems
    assert sorted(read) == [str(p) for p in enterprise_of(broken)]  # read again, for the positions


def test_one_process_and_several_agree_with_and_without_cache(registry: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for path in sorted(registry.glob("e0000[2-5]-*/*.yaml"))[::3]:
        path.write_text(path.read_text().replace("services: [", "services: [nonsense, ", 1), encoding="utf-8")
    results = [
        validate_paths([registry], None, workers=2),
        validate_paths([registry], cache, workers=2),
        validate_paths([registry], cache, workers=1),
        validate_paths([registry], None, workers=1),
    ]
    assert results[0].problems
    for result in results:
        agrees(result, [registry])
        assert (result.problems, result.files, result.enterprises) == (
            results[0].problems,
            results[0].files,
            results[0].enterprises,
        )


EDITS = ("break an ssin", "drop a line", "move a user", "headless", "misleading head", "delete", "restore", "touch")


def edit(rng: random.Random, registry: Path, pristine: Path) -> None:
    """One edit a person (or an attacker) might make to a tree."""
    files = sorted(registry.rglob("*.yaml"))
    path = rng.choice(files)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    kind = rng.choice(EDITS)
    if kind == "break an ssin":
        path.write_text(text.replace('ssin: "', 'ssin: "9', 1), encoding="utf-8")
    elif kind == "drop a line":
        del lines[rng.randrange(len(lines))]
        path.write_text("".join(lines), encoding="utf-8")
    elif kind == "move a user":  # a person declared in another enterprise's file too
        other = rng.choice(files)
        start = text.find("      - ssin:")
        if start != -1 and "users:" in other.read_text():
            block = text[start:].split("\n        services:")[0] + "\n        services: [dimona]\n"
            other.write_text(other.read_text() + block, encoding="utf-8")
    elif kind == "headless":  # the head no longer says whose it is: the file must be parsed to know
        path.write_text(
            "# moved\n\n" + text.replace("enterprise:\n", "qualities: []\nenterprise:\n", 1), encoding="utf-8"
        )
    elif kind == "misleading head":  # the head names one enterprise, the content another
        other = rng.choice(files).read_text().split("\n")[1]
        path.write_text(text.replace("\n", f"\n{other}\n", 1), encoding="utf-8")
    elif kind == "delete" and len(files) > 3:
        path.unlink()
    elif kind == "restore":
        shutil.rmtree(registry)
        shutil.copytree(pristine, registry)
    else:
        os.utime(path)


def test_random_edits_give_the_reference_result(generated: Path, registry: Path, tmp_path: Path) -> None:
    """Property-style: after each of many random edits, cached, uncached, serial and parallel agree."""
    rng = random.Random(20261129)
    cache = tmp_path / "cache"
    validate_paths([registry], cache, workers=1)
    for _ in range(14):
        edit(rng, registry, generated)
        expected = reference([registry])
        for result in (validate_paths([registry], cache, workers=1), validate_paths([registry], None, workers=2)):
            assert result.problems == expected[0]
            if not expected[0]:
                assert (result.files, result.enterprises) == expected[1:]
        assert validate_paths([registry], cache, workers=2).problems == expected[0]


@pytest.mark.parametrize(
    "folder",
    [EXAMPLES, *sorted(p for p in (FIXTURES / "invalid").iterdir() if p.suffix in (".yaml", "") and p.is_dir())],
    ids=lambda p: p.name,
)
def test_fixture_folders_agree_with_the_reference(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for _ in range(2):
        agrees(validate_paths([folder], cache, workers=1), [folder])


def test_invalid_fixture_files_agree_with_the_reference(tmp_path: Path) -> None:
    files = sorted((FIXTURES / "invalid").glob("*.yaml"))
    cache = tmp_path / "cache"
    for path in files:
        agrees(validate_paths([path], cache, workers=1), [path])
    both = validate_paths(files, cache, workers=2)
    agrees(both, files)


def test_a_file_edited_without_its_size_or_time_changing_is_read_again(
    registry: Path, tmp_path: Path, read: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    path = sorted(registry.glob("e00004-*/enterprise.yaml"))[0]
    past = path.stat().st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(past, past))
    validate_paths([registry], cache, workers=1)
    text = path.read_text()
    same_size = text.replace('ssin: "', 'ssin: "9', 1).replace("name: ", "name:", 1)
    assert len(same_size) == len(text)
    path.write_text(same_size, encoding="utf-8")
    os.utime(path, ns=(past, past))  # the modification time as it was: the change time still moved
    result = validate_paths([registry], cache, workers=1)
    assert result.problems and result.problems == reference([registry])[0]


def test_a_file_changed_a_moment_before_it_was_hashed_is_hashed_again(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timestamps are coarse: a second change within the same instant would not show."""
    monkeypatch.setattr(verdicts, "SETTLED_NS", 2_000_000_000)
    cache = tmp_path / "cache"
    validate_paths([registry], cache, workers=1)  # every file was copied (changed) a moment ago
    assert (cache / verdicts.VERDICTS_FILE).exists()
    assert not (cache / verdicts.HASHES_FILE).exists()


def test_a_head_naming_another_enterprise_regroups_by_content(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grouped: list[bool] = []
    original = validation._groups

    def spy(files, hashes, by_content=False):
        grouped.append(by_content)
        return original(files, hashes, by_content)

    monkeypatch.setattr(validation, "_groups", spy)
    first, second = sorted(registry.glob("e00001-*/*.yaml"))[0], sorted(registry.glob("e00002-*/*.yaml"))[-1]
    number = first.read_text().split("enterprise:\n", 1)[1].split("\n", 1)[0].replace('"', "")
    text = second.read_text()
    # The head names the first enterprise; the plain value goes on, so the content names another.
    second.write_text(f"enterprise:\n{number}\n    1\n" + text[text.index("qualities:") :], encoding="utf-8")
    cache = tmp_path / "cache"
    for workers in (1, 2):
        grouped.clear()
        result = validate_paths([registry], cache, workers=workers)
        assert grouped == [False, True]
        agrees(result, [registry])


def cache_files(cache: Path) -> dict[str, Path]:
    return {p.name: p for p in cache.iterdir()}


def warm(registry: Path, cache: Path) -> None:
    validate_paths([registry], cache, workers=1)
    assert verdicts.VERDICTS_FILE in cache_files(cache)


def reads_everything(registry: Path, cache: Path, read: list[str]) -> None:
    read.clear()
    result = validate_paths([registry], cache, workers=1)
    assert result.read == len(list(registry.rglob("*.yaml"))) and result.cached == 0
    agrees(result, [registry])


def tamper(path: Path, change) -> None:
    raw = path.read_bytes()
    path.write_bytes(change(raw))
    path.chmod(0o600)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-5],  # cut short
        lambda raw: raw.replace(b" 1\n", b" 2\n", 1),  # a count changed, digest left as it was
        lambda raw: raw.replace(b"reconciler validate cache 1", b"reconciler validate cache 9"),  # another format
        lambda raw: b"\xff\xfe" + raw,  # not text
        lambda raw: raw + b"\x00" * 10,  # trailing garbage
    ],
    ids=["truncated", "altered", "format", "binary", "garbage"],
)
def test_a_damaged_verdicts_file_is_ignored(registry: Path, tmp_path: Path, read: list[str], damage) -> None:
    cache = tmp_path / "cache"
    warm(registry, cache)
    (cache / verdicts.HASHES_FILE).unlink()  # hashed afresh: the verdicts alone are at stake
    tamper(cache / verdicts.VERDICTS_FILE, damage)
    reads_everything(registry, cache, read)


def test_a_verdict_line_of_the_wrong_shape_spoils_the_whole_file(
    registry: Path, tmp_path: Path, read: list[str]
) -> None:
    """A line that is not exactly as written (sealed with a matching digest, as an attacker would) is refused."""
    cache = tmp_path / "cache"
    warm(registry, cache)
    path = cache / verdicts.VERDICTS_FILE
    head, generation, _, body = path.read_bytes().split(b"\n", 3)
    for line in (b"not a verdict", b"ab" * 32 + b" -1 1 1", b"AB" * 32 + b" 1 1 1", b"ab" * 32 + b" 1 1"):
        forged = body + line + b"\n"
        digest = verdicts.hashlib.sha256(forged).hexdigest().encode()
        path.write_bytes(b"\n".join([head, generation, digest, forged]))
        assert verdicts._verdicts(forged) == {}
        reads_everything(registry, cache, read)


def test_damaged_hashes_are_ignored(registry: Path, tmp_path: Path, read: list[str]) -> None:
    cache = tmp_path / "cache"
    warm(registry, cache)
    path = cache / verdicts.HASHES_FILE
    head, generation, _, body = path.read_bytes().split(b"\n", 3)
    entries = json.loads(body)
    victim = sorted(entries)[0]
    entries[victim][0] = "not a hash"
    forged = json.dumps(entries).encode()
    path.write_bytes(b"\n".join([head, generation, verdicts.hashlib.sha256(forged).hexdigest().encode(), forged]))
    kept = verdicts.Hashes.open(cache)
    assert kept.get(victim, os.stat(victim)) is None  # an entry not as written is no entry
    others = [path for path in sorted(entries) if path != victim]
    assert others and kept.get(others[0], os.stat(others[0])) is not None
    Path(victim).write_text(Path(victim).read_text().replace('ssin: "', 'ssin: "9', 1), encoding="utf-8")
    result = validate_paths([registry], cache, workers=1)
    assert result.problems and result.problems == reference([registry])[0]


def test_cache_files_others_can_write_or_links_are_ignored(registry: Path, tmp_path: Path, read: list[str]) -> None:
    cache = tmp_path / "cache"
    warm(registry, cache)
    for name in (verdicts.VERDICTS_FILE, verdicts.HASHES_FILE):
        (cache / name).chmod(0o644)
    reads_everything(registry, cache, read)  # and they are written again, private
    for name in (verdicts.VERDICTS_FILE, verdicts.HASHES_FILE):
        assert stat.S_IMODE((cache / name).stat().st_mode) == 0o600

    elsewhere = tmp_path / "elsewhere"
    (cache / verdicts.VERDICTS_FILE).rename(elsewhere)
    (cache / verdicts.VERDICTS_FILE).symlink_to(elsewhere)
    (cache / verdicts.HASHES_FILE).unlink()
    reads_everything(registry, cache, read)


def test_a_folder_others_can_write_is_neither_read_nor_written(registry: Path, tmp_path: Path, read: list[str]) -> None:
    cache = tmp_path / "cache"
    warm(registry, cache)
    cache.chmod(0o777)
    before = {path: path.read_bytes() for path in cache.rglob("*") if path.is_file()}
    reads_everything(registry, cache, read)
    reads_everything(registry, cache, read)
    assert {path: path.read_bytes() for path in cache.rglob("*") if path.is_file()} == before


def test_a_cache_of_another_version_or_catalogue_is_ignored(
    registry: Path, tmp_path: Path, read: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    warm(registry, cache)
    monkeypatch.setattr(verdicts, "__version__", "99.0")
    reads_everything(registry, cache, read)
    monkeypatch.setattr(verdicts, "catalogue_sha", lambda: "another catalogue")
    reads_everything(registry, cache, read)


def test_keys_cannot_be_confused_by_file_names() -> None:
    salted = verdicts.salt()
    assert verdicts.key_of(salted, [("a", "1" * 64), ("b", "2" * 64)]) != verdicts.key_of(
        salted, [("a" + "1" * 64 + "\n1:b", "2" * 64)]
    )
    assert verdicts.key_of(salted, [("a", "1" * 64)]) != verdicts.key_of(salted + b"x", [("a", "1" * 64)])


def test_no_cache_writes_nothing_and_the_cache_is_private(run, tmp_path: Path) -> None:
    result = run("validate", EXAMPLES, "--no-cache")
    assert result.exit_code == 0
    assert not (tmp_path / ".reconciler").exists()
    assert run("validate", EXAMPLES).exit_code == 0
    cache = tmp_path / ".reconciler" / "cache"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert set(cache_files(cache)) == {".gitignore", verdicts.VERDICTS_FILE, verdicts.HASHES_FILE, "facts"}
    facts = cache / verdicts.FACTS_FOLDER
    assert stat.S_IMODE(facts.stat().st_mode) == 0o700
    for path in [*cache.iterdir(), *facts.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path == facts else 0o600)
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"


@pytest.mark.parametrize("output_format", ["text", "json", "github", "sarif"])
@pytest.mark.parametrize(
    "folder", [EXAMPLES, FIXTURES / "invalid" / "many_problems_across_files"], ids=["valid", "invalid"]
)
def test_output_is_the_same_with_and_without_cache(run, tmp_path: Path, output_format: str, folder: Path) -> None:
    outputs = [run("validate", folder, "--format", output_format, *flags) for flags in ([], [], ["--no-cache"], [])]
    first = outputs[0]
    for other in outputs[1:]:
        assert (other.exit_code, other.stdout, other.stderr) == (first.exit_code, first.stdout, first.stderr)
    assert first.exit_code == (0 if folder == EXAMPLES else 1)


def test_cache_dir_option_and_environment(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("validate", EXAMPLES, "--cache-dir", tmp_path / "mine").exit_code == 0
    assert (tmp_path / "mine" / verdicts.VERDICTS_FILE).exists()
    monkeypatch.setenv("RECONCILER_CACHE_DIR", str(tmp_path / "from-env"))
    assert run("validate", EXAMPLES).exit_code == 0
    assert (tmp_path / "from-env" / verdicts.VERDICTS_FILE).exists()
    assert not (tmp_path / ".reconciler").exists()


@pytest.mark.parametrize(
    "damage",
    [lambda raw: raw[:-5], lambda raw: raw[:-3] + bytes([raw[-3] ^ 1]) + raw[-2:], lambda raw: raw + b"x"],
    ids=["truncated", "altered", "garbage"],
)
def test_damaged_facts_read_the_enterprise_whole(registry: Path, tmp_path: Path, read: list[str], damage) -> None:
    """Kept facts stand for unchanged files: any doubt about them and the enterprise is read whole."""
    cache = tmp_path / "cache"
    warm(registry, cache)
    changed = sorted(registry.glob("e00003-*/employer-000.yaml"))[0]
    number = changed.parent.name.split("-")[1]
    tamper(cache / verdicts.FACTS_FOLDER / number, damage)
    changed.write_text(changed.read_text().replace("name: ", "name: X", 1), encoding="utf-8")
    read.clear()
    result = validate_paths([registry], cache, workers=1)
    assert sorted(read) == [str(p) for p in enterprise_of(changed)]
    agrees(result, [registry])


def test_facts_others_can_write_are_not_read(registry: Path, tmp_path: Path, read: list[str]) -> None:
    cache = tmp_path / "cache"
    warm(registry, cache)
    changed = sorted(registry.glob("e00003-*/employer-000.yaml"))[0]
    facts = cache / verdicts.FACTS_FOLDER / changed.parent.name.split("-")[1]
    facts.chmod(0o644)
    changed.write_text(changed.read_text().replace("name: ", "name: X", 1), encoding="utf-8")
    read.clear()
    validate_paths([registry], cache, workers=1)
    assert sorted(read) == [str(p) for p in enterprise_of(changed)]
    assert stat.S_IMODE(facts.stat().st_mode) == 0o600  # written again, private


def test_an_edit_breaking_a_rule_across_files_is_found_from_kept_facts(
    registry: Path, tmp_path: Path, read: list[str]
) -> None:
    """A user copied into another file of the same quality (H006) and one person given another
    name in a second file (H017): found with the file's position, as a full read finds them."""
    cache = tmp_path / "cache"
    warm(registry, cache)
    source = sorted(registry.glob("e00000-*/employer-0*.yaml"))[0]
    text = source.read_text()
    user = text[text.index("      - ssin:") :].split("\n      - ssin:")[0]
    head = text[: text.index("qualities:")]
    extra = source.parent / "employer-extra.yaml"
    extra.write_text(
        head + "qualities:\n  - code: employer\n    users:\n" + user.replace("name: ", "name: Other ", 1) + "\n",
        encoding="utf-8",
    )
    result = validate_paths([registry], cache, workers=1)
    assert {p.rule for p in result.problems} == {"H006", "H017"}
    assert all(p.position.path == str(extra) for p in result.problems)
    agrees(result, [registry])
