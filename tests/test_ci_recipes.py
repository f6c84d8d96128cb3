"""The CI recipes' scripts, run for real: one comment per kind edited at every push (GitLab against
a fake API, GitHub through a fake ``gh`` that filters with the real jq), and the apply's result
reported back without quoting anything declared."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import EXAMPLES, ROOT

CI = ROOT / "examples" / "ci"
pytestmark = pytest.mark.skipif(not shutil.which("jq") or not shutil.which("curl"), reason="needs jq and curl")


class FakeGitLab(BaseHTTPRequestHandler):
    """Enough of GitLab's API for notes: the token's user, and a merge request's notes."""

    me = 7
    notes: ClassVar[list[dict]] = []
    calls: ClassVar[list[tuple[str, str]]] = []

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path))
        assert self.headers["PRIVATE-TOKEN"] == "token"
        if self.path == "/api/v4/user":
            self._send({"id": self.me})
        else:
            self._send(sorted(self.notes, key=lambda n: -n["id"]))

    def _body(self) -> str:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"]

    def do_POST(self) -> None:
        self.calls.append(("POST", self.path))
        note = {"id": len(self.notes) + 100, "author": {"id": self.me}, "body": self._body()}
        self.notes.append(note)
        self._send(note)

    def do_PUT(self) -> None:
        self.calls.append(("PUT", self.path))
        number = int(self.path.rsplit("/", 1)[1])
        [note] = [n for n in self.notes if n["id"] == number]
        assert note["author"]["id"] == self.me
        note["body"] = self._body()
        self._send(note)


@pytest.fixture
def gitlab():
    FakeGitLab.notes = [
        # Someone else's note that starts with the marker is never edited.
        {"id": 1, "author": {"id": 8}, "body": "<!-- reconciler:plan -->\nforged"},
    ]
    FakeGitLab.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitLab)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    server.shutdown()


def post(tmp_path: Path, env: dict, *args: str, text: str) -> subprocess.CompletedProcess:
    body = tmp_path / "body.md"
    body.write_text(text)
    return subprocess.run(
        [CI / "post-note.sh", *args, str(body)], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def test_gitlab_edits_its_one_note_per_kind(gitlab: str, tmp_path: Path) -> None:
    env = {"CI_API_V4_URL": gitlab, "GITLAB_API_TOKEN": "token"}
    for text in ("first plan", "second plan"):
        done = post(tmp_path, env, "gitlab", "42", "5", "plan", text=text)
        assert done.returncode == 0, done.stderr
    done = post(tmp_path, env, "gitlab", "42", "5", "apply", text="applied")
    assert done.returncode == 0, done.stderr
    bodies = {note["id"]: note["body"] for note in FakeGitLab.notes}
    assert bodies == {
        1: "<!-- reconciler:plan -->\nforged",
        101: "<!-- reconciler:plan -->\nsecond plan",
        102: "<!-- reconciler:apply -->\napplied",
    }
    writes = [call for call in FakeGitLab.calls if call[0] != "GET"]
    assert writes == [
        ("POST", "/api/v4/projects/42/merge_requests/5/notes"),
        ("PUT", "/api/v4/projects/42/merge_requests/5/notes/101"),
        ("POST", "/api/v4/projects/42/merge_requests/5/notes"),
    ]


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    done = post(tmp_path, {}, "gitlab", "42", "5", "other", text="x")
    assert done.returncode == 2 and "KIND is plan or apply" in done.stderr


FAKE_GH = """#!{python}
import json, subprocess, sys
from pathlib import Path
state = Path({state!r})
comments = json.loads(state.read_text())
args = sys.argv[2:]  # after "api"
method, jq, fields, path = "GET", None, {{}}, None
while args:
    item = args.pop(0)
    if item == "--method":
        method = args.pop(0)
    elif item == "--jq":
        jq = args.pop(0)
    elif item == "-F":
        name, value = args.pop(0).split("=", 1)
        fields[name] = Path(value[1:]).read_text() if value.startswith("@") else value
    elif item == "--paginate":
        pass
    else:
        path = item
with open({log!r}, "a") as log:
    log.write(f"{{method}} {{path}}\\n")
if method == "GET":
    out = json.dumps(comments)
    if jq:
        out = subprocess.run(["jq", "-r", jq], input=out, capture_output=True, text=True, check=True).stdout
    sys.stdout.write(out)
elif method == "PATCH":
    number = int(path.rsplit("/", 1)[1])
    [comment] = [c for c in comments if c["id"] == number]
    comment["body"] = fields["body"]
else:
    comments.append({{"id": len(comments) + 100, "user": {{"login": "github-actions[bot]"}}, "body": fields["body"]}})
state.write_text(json.dumps(comments))
"""


def test_github_edits_its_one_comment_per_kind(tmp_path: Path) -> None:
    state, log, bin_dir = tmp_path / "comments.json", tmp_path / "calls.log", tmp_path / "bin"
    state.write_text(json.dumps([{"id": 1, "user": {"login": "mallory"}, "body": "<!-- reconciler:plan -->\nforged"}]))
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable, state=str(state), log=str(log)))
    gh.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GH_TOKEN": "token"}
    for text in ("first plan", "second plan"):
        done = post(tmp_path, env, "github", "o/r", "9", "plan", text=text)
        assert done.returncode == 0, done.stderr
    comments = {c["id"]: c["body"] for c in json.loads(state.read_text())}
    assert comments == {1: "<!-- reconciler:plan -->\nforged", 101: "<!-- reconciler:plan -->\nsecond plan"}
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["GET", "POST", "GET", "PATCH"]


def result(status: int, log: Path, job: str = "") -> str:
    return subprocess.run(
        [CI / "apply-result.sh", str(status), str(log), *([job] if job else [])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_apply_result_quotes_only_reconcilers_own_lines(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(
        (EXAMPLES / "small-employer.yaml")
        .read_text()
        .replace("Jan Mertens", "Jan <img src=x onerror=alert(1)> ](https://evil.example) @everyone")
    )
    log = tmp_path / "apply.log"
    with log.open("w") as out:
        done = subprocess.run(
            [
                Path(sys.executable).parent / "reconciler",
                "apply",
                hostile,
                "--state",
                f"sqlite:///{tmp_path / 's.db'}",
                "--auto-approve",
                "--defer-codes",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    assert done.returncode == 0
    assert "onerror" in log.read_text()  # the plan in the log names the person ...
    report = result(0, log, "https://ci.example/job/1")
    assert "onerror" not in report and "evil" not in report and "@everyone" not in report  # ... the report never
    lines = report.splitlines()
    assert lines[:3] == ["### reconciler apply", "", "**Applied.** ([the job's log](https://ci.example/job/1))"]
    assert "Apply complete: 7 changes in 1 enterprise committed." in lines
    [head] = [line for line in lines if line.startswith("- `Audit trail of 0999.055.557: entry 7, head ")]
    assert head.endswith("`")


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (3, "**Not applied: the store changed since the plan was reviewed** (exit 3)"),
        (4, "**Not applied: the declaration plans other changes than the reviewed plan"),
        (6, "**Not applied: refused by a safety gate** (exit 6)"),
        (7, "**Not applied: an audit trail does not verify** (exit 7)"),
        (1, "**Not applied** (exit 1)"),
    ],
)
def test_a_refused_apply_says_why_and_that_nothing_changed(tmp_path: Path, status: int, says: str) -> None:
    log = tmp_path / "apply.log"
    log.write_text("Error: something\n")
    assert says in result(status, log)


def test_an_apply_that_committed_and_then_failed_says_so(tmp_path: Path) -> None:
    log = tmp_path / "apply.log"
    log.write_text("Apply complete: 3 changes in 1 enterprise committed.\nError: cannot send codes\n")
    report = result(1, log)
    assert "**Applied, but a later step failed** (exit 1)" in report
    assert "`reconciler credentials issue` sends every code still owed" in report
