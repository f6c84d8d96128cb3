"""``make bench``: time reconciler against floors that do only the unavoidable work.

For each size (10k, 100k, 1M users; BENCH_SIZES=10k,100k to choose) it generates a
registry (cached in bench/data/), then runs every step in a fresh process and reads its
wall time and peak memory (PSS of the process and its workers, summed):

- bare insert: executemany of the same persons and users rows into empty tables (floor of
  the first apply);
- first apply: ``reconciler apply --defer-codes`` into an empty SQLite store (the registry
  rows and the accounts; access codes are a separate job, measured next);
- issuing codes (smallest size only): ``reconciler credentials issue`` for every account,
  argon2id at its real cost on both cores, as sealed letters;
- pull request: one file of the registry changed, ``reconciler plan`` (skips the rest),
  median of three runs;
- floor: parse every file with the fastest parser used (rapidyaml + orjson), read the
  stored users, and compare keyed tuples;
- full plan: ``reconciler plan --full`` against the populated store, after 1% of the
  stored users were changed by hand (so the plan has real work to show); it and its floor
  are medians of three runs (times of the same command vary by a tenth from run to run).

Then, at the largest size (BENCH_GIANT=100k to choose another, ``none`` to leave it out), a
registry of another shape: one enterprise holds 10 % of all users over a hundred files, the
rest is a long tail of small enterprises (``generate.py --giant``).  On it: the bare insert
and the first apply; a pull request removing one user from one file of the giant, and from
one file of a small enterprise (medians of three; the second and third runs find each file's
hash in ``.reconciler/cache``, and the giant's once more with ``--no-cache``, as a fresh clone
in CI hashes every file); ``validate`` cold (empty cache), warm with
nothing changed, and warm with that one file changed (the cache as the previous run left it,
restored before each of three runs); ``plan --full`` with nothing to change and its floor
(medians of three).
The peak memory of every command is reported beside its time.

Results are printed as tables and written to bench/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
PYTHON = sys.executable
RECONCILER = [PYTHON, "-m", "reconciler"]


def measure(command: list[str], env: dict | None = None, expect: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """Wall seconds, peak memory in MB, and stdout of one fresh process.

    Memory is the proportional set size (PSS) of the process and all its descendants,
    summed: worker processes count, and pages they share after a fork are not counted twice.
    It is sampled every 20 ms for the first two seconds, then every 100 ms: reading a process's
    PSS walks its page tables under the lock its own page faults take, and at every 20 ms that
    slowed a first apply of a million users (1.2 GB) by a tenth.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=out, stderr=err, text=True, cwd=ROOT, env={**os.environ, "NO_COLOR": "1", **(env or {})}
        )
        peak = 0
        while process.poll() is None:
            peak = max(peak, tree_pss_kb(process.pid))
            time.sleep(0.02 if time.perf_counter() - started < 2 else 0.1)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode not in expect:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}:\n{stderr[-3000:]}")
    return seconds, peak / 1024, stdout


def tree_pss_kb(root: int) -> int:
    """PSS of a process and its descendants, in kB (0 for processes that ended meanwhile).

    Descendants are found among the processes numbered from ``root`` on: the kernel numbers new
    processes upwards (until its numbers wrap, at ``pid_max``), so the machine's older processes
    are not read at every sample.  Reading the parent of every process took 15 ms a sample on a
    machine running a database or two, and sampling every 20 ms then made a one-second command
    take a tenth longer.
    """
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) >= root:
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
    return total


def dataset(name: str, giant: float = 0.0) -> Path:
    folder = HERE / "data" / (f"giant-{name}" if giant else name)
    marker = folder / ".complete"
    if not marker.exists():
        shape = ["--giant", str(giant)] if giant else []
        subprocess.run([PYTHON, str(HERE / "generate.py"), str(SIZES[name]), str(folder), *shape], check=True, cwd=ROOT)
        marker.write_text("1")
    return folder


def run_size(name: str, issue_codes: bool) -> dict:
    data = dataset(name)
    files = sorted(data.rglob("*.yaml"))
    work = HERE / "data" / f"{name}-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = f"sqlite:///{work / 'state.db'}"
    result: dict = {
        "users": SIZES[name],
        "files": len(files),
        "megabytes": round(sum(f.stat().st_size for f in files) / 2**20, 1),
    }

    result["bare_insert"] = measure([PYTHON, str(HERE / "floors.py"), "insert", str(data), str(work / "bare.db")])[:2]
    result["first_apply"] = measure(
        [
            *RECONCILER,
            "apply",
            str(data),
            "--state",
            store,
            "--auto-approve",
            "--max-removal-share",
            "1",
            "--defer-codes",
        ]
    )[:2]
    if issue_codes:
        seconds, peak, out = measure(
            [*RECONCILER, "credentials", "issue", "--state", store, "--delivery", f"letters:{work / 'letters'}"],
            env={"RECONCILER_ARGON2_PROFILE": "default"},
        )  # the real cost
        result["issue_codes"] = (
            seconds,
            peak,
            int(re.search(r"sent for ([\d,]+) account", out).group(1).replace(",", "")),
        )

    with_users = [f for f in files if "services: [" in f.read_text()]
    changed = with_users[len(with_users) // 2]
    original = changed.read_text()
    changed.write_text(re.sub(r"services: \[[\w-]+, ", "services: [", original, count=1))  # one service less
    try:
        plan = [*RECONCILER, "plan", str(data), "--state", store, "--detailed-exitcode", "--cache-dir", str(work / "c")]
        runs = [measure(plan, expect=(2,)) for _ in range(3)]  # short and noisy: the median of three
        seconds, peak, out = sorted(runs)[1]
        result["pr_plan"] = (seconds, peak)
        result["pr_skipped"] = int(re.search(r"(\d+) enterprises? unchanged", out).group(1))
    finally:
        changed.write_text(original)

    measure([PYTHON, str(HERE / "floors.py"), "drift", str(work / "state.db")])
    compare = [PYTHON, str(HERE / "floors.py"), "compare", str(data), str(work / "state.db")]
    floors = [measure(compare) for _ in range(3)]
    result["floor"] = median(floors)
    result["floor_differences"] = int(floors[0][2].split()[0])
    full = [measure([*RECONCILER, "plan", str(data), "--state", store, "--full", "--format", "json"]) for _ in range(3)]
    result["full_plan"] = median(full)
    result["full_plan_changes"] = len(json.loads(full[0][2])["changes"])
    result["full_plan_one_process"] = measure(
        [*RECONCILER, "plan", str(data), "--state", store, "--full", "--format", "json"],
        env={"RECONCILER_WORKERS": "1"},
    )[:2]
    shutil.rmtree(work, ignore_errors=True)
    return result


GIANT_SHARE = 0.1
USER_LINES = 4  # "- ssin:", "name:", "email:", "services:"


def without_one_user(path: Path) -> str:
    """The file's text with its first user removed (what the pull requests and warm runs change)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("      - ssin:"))
    return "".join(lines[:first] + lines[first + USER_LINES :])


def edited(path: Path, run) -> list:
    """Run ``run`` three times with one user removed from ``path``; the file is restored after."""
    original = path.read_text(encoding="utf-8")
    path.write_text(without_one_user(path), encoding="utf-8")
    try:
        return [run() for _ in range(3)]
    finally:
        path.write_text(original, encoding="utf-8")


def median(runs: list) -> tuple[float, float]:
    """The median time, and the largest peak memory of the runs."""
    return sorted(r[0] for r in runs)[1], max(r[1] for r in runs)


def users_in(folder: Path) -> int:
    return sum(p.read_text(encoding="utf-8").count("      - ssin:") for p in folder.glob("*.yaml"))


def run_giant(name: str) -> dict:
    data = dataset(name, GIANT_SHARE)
    files = sorted(data.rglob("*.yaml"))
    folders = sorted({f.parent for f in files})
    giant, tail = folders[0], folders[1:]
    small = [f for f in tail if users_in(f) <= 50]
    tiny = small[len(small) // 2]
    giant_file = sorted(giant.glob("employer-*.yaml"))[len(list(giant.glob("employer-*.yaml"))) // 2]
    tiny_file = next(p for p in sorted(tiny.glob("*.yaml")) if "      - ssin:" in p.read_text(encoding="utf-8"))
    work = HERE / "data" / f"giant-{name}-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = f"sqlite:///{work / 'state.db'}"
    result: dict = {
        "users": SIZES[name],
        "files": len(files),
        "enterprises": len(folders),
        "megabytes": round(sum(f.stat().st_size for f in files) / 2**20, 1),
        "giant_users": users_in(giant),
        "giant_files": len(list(giant.glob("*.yaml"))),
        "tiny_users": users_in(tiny),
        "tiny_files": len(list(tiny.glob("*.yaml"))),
    }
    result["bare_insert"] = measure([PYTHON, str(HERE / "floors.py"), "insert", str(data), str(work / "bare.db")])[:2]
    apply = [*RECONCILER, "apply", str(data), "--state", store, "--auto-approve", "--max-removal-share", "1"]
    result["first_apply"] = measure([*apply, "--defer-codes"])[:2]
    plan = [*RECONCILER, "plan", str(data), "--state", store, "--detailed-exitcode", "--cache-dir", str(work / "c")]
    result["pr_giant"] = median(edited(giant_file, lambda: measure(plan, expect=(2,))))
    result["pr_tiny"] = median(edited(tiny_file, lambda: measure(plan, expect=(2,))))
    cold = [*plan, "--no-cache"]  # a fresh clone in CI: every file of the registry hashed
    result["pr_giant_cold"] = median(edited(giant_file, lambda: measure(cold, expect=(2,))))

    cache = work / "cache"
    validate = [*RECONCILER, "validate", str(data), "--cache-dir", str(cache)]
    result["validate_no_cache"] = measure([*RECONCILER, "validate", str(data), "--no-cache"])[:2]
    result["validate_cold"] = measure(validate)[:2]
    result["validate_warm"] = median([measure(validate) for _ in range(3)])
    kept = work / "cache-kept"
    shutil.copytree(cache, kept)

    def warm_after_change() -> tuple:
        shutil.rmtree(cache)
        shutil.copytree(kept, cache)  # as the last run left it: the changed enterprise is not in it
        return measure(validate)

    result["validate_tiny"] = median(edited(tiny_file, warm_after_change))
    result["validate_giant"] = median(edited(giant_file, warm_after_change))

    full = [*RECONCILER, "plan", str(data), "--state", store, "--full"]
    result["full_plan"] = median([measure(full) for _ in range(3)])
    floor = [PYTHON, str(HERE / "floors.py"), "compare", str(data), str(work / "state.db")]
    result["floor"] = median([measure(floor) for _ in range(3)])
    shutil.rmtree(work, ignore_errors=True)
    return result


def giant_table(name: str, r: dict) -> str:
    """The giant registry's figures, as aligned text: the README's table is made of this file's "|" lines."""
    rows = [
        ("floor: bare insert", "bare_insert"),
        (f"first apply, --defer-codes ({r['first_apply'][0] / r['bare_insert'][0]:.1f}x the floor)", "first_apply"),
        ("PR plan: one user removed in one file of the giant", "pr_giant"),
        ("PR plan: one user removed in one file of a small enterprise", "pr_tiny"),
        ("PR plan in the giant, --no-cache (every file hashed, as in a fresh clone)", "pr_giant_cold"),
        ("validate --no-cache", "validate_no_cache"),
        ("validate, cold (empty cache, filling it)", "validate_cold"),
        ("validate, warm, nothing changed", "validate_warm"),
        ("validate, warm, one file of a small enterprise changed", "validate_tiny"),
        ("validate, warm, one file of the giant changed", "validate_giant"),
        (f"plan --full, nothing to change ({r['full_plan'][0] / r['floor'][0]:.2f}x the floor)", "full_plan"),
        ("floor: parse, read users, compare", "floor"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{'step':<{width}}  {'time':>8}  {'peak memory':>11}"]
    lines += [f"{label:<{width}}  {r[key][0]:>6.2f} s  {r[key][1]:>8.0f} MB" for label, key in rows]
    return "\n".join(
        [
            f"Registry of {name} users with one giant enterprise: {r['files']:,} files ({r['megabytes']} MB) in "
            f"{r['enterprises']:,} enterprises; the giant holds {r['giant_users']:,} users in {r['giant_files']} "
            f"files, the small enterprise changed {r['tiny_users']} users in {r['tiny_files']} files. Medians of "
            "three runs for the pull requests, warm runs, plan --full and its floor; memory is the peak PSS of the "
            "command and its workers (the largest of the runs).",
            "",
            "```",
            *lines,
            "```",
        ]
    )


def table(results: dict[str, dict]) -> str:
    rows = [
        "| users | files | MB | bare insert | first apply (ratio) | PR: 1 file changed | floor | full plan "
        "(ratio) | full plan, one process | full plan peak memory |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['files']:,} | {r['megabytes']} | {r['bare_insert'][0]:.2f} s | "
            f"{r['first_apply'][0]:.2f} s ({r['first_apply'][0] / r['bare_insert'][0]:.1f}x) | "
            f"{r['pr_plan'][0]:.2f} s ({r['pr_skipped']:,} enterprises skipped) | {r['floor'][0]:.2f} s | "
            f"{r['full_plan'][0]:.2f} s ({r['full_plan'][0] / r['floor'][0]:.2f}x; "
            f"{r['full_plan_changes']:,} changes) | {r['full_plan_one_process'][0]:.2f} s "
            f"({r['full_plan_one_process'][0] / r['floor'][0]:.2f}x) | {r['full_plan'][1]:.0f} MB |"
        )
    for name, r in results.items():
        if "issue_codes" in r:
            seconds, peak, count = r["issue_codes"]
            rows += [
                "",
                f"Issuing access codes ({name}): {count:,} accounts in {seconds:.1f} s, "
                f"{count / seconds:,.0f} accounts/s (argon2id, OWASP minimum cost, both cores; two letters "
                f"each), peak {peak:.0f} MB.",
            ]
    return "\n".join(rows)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 2**20
    return f"{os.cpu_count()} cores ({cpu}), {memory} GiB, Python {platform.python_version()}, {platform.system()}"


def compiled() -> None:
    """Compile the tool's modules, as installing it from a wheel does: with PYTHONDONTWRITEBYTECODE
    set (as on many CI runners) an editable install would otherwise compile them in every command."""
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "reconciler")], check=True)


def main() -> None:
    compiled()
    names = os.environ.get("BENCH_SIZES", "10k,100k,1M").split(",")
    giant = os.environ.get("BENCH_GIANT", names[-1])
    results = {}
    for name in names:
        print(f"bench {name} ...", flush=True)
        results[name] = run_size(name, issue_codes=name == names[0])
        print(json.dumps(results[name]), flush=True)
    text = table(results)
    if giant != "none":
        print(f"bench giant {giant} ...", flush=True)
        found = run_giant(giant)
        print(json.dumps(found), flush=True)
        text += "\n\n" + giant_table(giant, found)
    print(text)
    (HERE / "RESULTS.md").write_text(
        "# Benchmark results\n\n"
        f"Measured by `make bench` on {time.strftime('%Y-%m-%d')}: {machine()}.\n"
        "Each step runs in a fresh process; times are wall clock; memory is the peak PSS of the process and its\n"
        "worker processes, summed. Plans use one process per core unless the column says otherwise. Pull requests,\n"
        "full plans and their floors are medians of three runs.\n"
        "Ratios compare with the floors described in `bench/run.py`.\n\n" + text + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
