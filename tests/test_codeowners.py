"""CODEOWNERS: each declared file owned by the people the authority matrix lets approve it."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, ROOT


def test_github_codeowners_for_the_examples(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = run("codeowners", EXAMPLES.relative_to(ROOT) / "social-secretariat")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2:] == [
        # The access manager appointment needs a main or co-main access manager.
        "/examples/enterprises/social-secretariat/employer.yaml @odubois @sofie-claes",
        "/examples/enterprises/social-secretariat/enterprise.yaml @odubois @sofie-claes",
        "/examples/enterprises/social-secretariat/service-provider.yaml @odubois @sofie-claes",
        # It appoints the quality's access manager too, which only the (co-)main access managers may.
        "/examples/enterprises/social-secretariat/social-secretariat.yaml @odubois @sofie-claes",
    ]


def test_gitlab_handles_and_missing_handles(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = run(
        "codeowners",
        "examples/enterprises/social-secretariat",
        "examples/enterprises/small-employer.yaml",
        "--platform",
        "gitlab",
    )
    assert "/examples/enterprises/social-secretariat/enterprise.yaml @odubois @sclaes" in result.stdout
    assert "# /examples/enterprises/small-employer.yaml: its approvers declare no gitlab handle" in result.stdout


def test_users_only_file_is_owned_by_the_quality_managers_too(run, tmp_path) -> None:
    (tmp_path / "enterprise.yaml").write_text((EXAMPLES / "social-secretariat" / "enterprise.yaml").read_text())
    (tmp_path / "users.yaml").write_text("""enterprise:
  number: "0999.077.729"
qualities:
  - code: social-secretariat
    default: true
    access_manager:
      ssin: "87040208957"
      name: Sofie Claes
      email: sofie.claes@ssdv.example
      github: sofie-claes
      gitlab: sclaes
    co_access_managers:
      - ssin: "60091406166"
        name: Marc Wouters
        email: marc.wouters@ssdv.example
        github: marc-wouters
""")
    (tmp_path / "more-users.yaml").write_text("""enterprise:
  number: "0999.077.729"
qualities:
  - code: social-secretariat
    users:
      - ssin: "91020864669"
        name: Lien Goossens
        email: lien.goossens@ssdv.example
        services: [dimona]
""")
    result = run("codeowners", tmp_path, "--root", tmp_path)
    assert "/more-users.yaml @marc-wouters @odubois @sofie-claes" in result.stdout
    assert "/users.yaml @odubois @sofie-claes" in result.stdout


def test_invalid_declarations_give_no_codeowners(run) -> None:
    result = run("codeowners", ROOT / "tests" / "fixtures" / "invalid" / "h004_two_access_managers.yaml")
    assert result.exit_code == 1 and result.stdout == ""


PARAMETERS_ONLY = """enterprise:
  number: "0999.077.729"
qualities:
  - code: social-secretariat
%s"""


@pytest.mark.parametrize(
    ("parameters", "owners"),
    [
        # Configuring a quality's parameters is part of managing it: main and co-main access
        # managers, and the quality's access manager and co-access managers.
        (
            """    senders:
      - number: "230453"
        channel: ftp
        technical_contact:
          name: Ops
          email: ops@ssdv.example
""",
            "@marc-wouters @odubois @sofie-claes",
        ),
        (
            """    routing:
      - service: dmfa
        sender: "230451"
""",
            "@marc-wouters @odubois @sofie-claes",
        ),
        ("    notification_email: other@ssdv.example\n", "@marc-wouters @odubois @sofie-claes"),
    ],
    ids=["senders", "routing", "notification-email"],
)
def test_parameters_only_file_is_owned_by_every_manager_of_the_quality(run, tmp_path, parameters, owners) -> None:
    (tmp_path / "enterprise.yaml").write_text((EXAMPLES / "social-secretariat" / "enterprise.yaml").read_text())
    quality = (EXAMPLES / "social-secretariat" / "social-secretariat.yaml").read_text()
    for moved in (
        "    notification_email: notifications@ssdv.example\n",
        '      - service: dmfa\n        sender: "230451"\n',
    ):
        assert moved in quality
        quality = quality.replace(moved, "")  # declared in parameters.yaml instead
    (tmp_path / "quality.yaml").write_text(quality)
    (tmp_path / "parameters.yaml").write_text(PARAMETERS_ONLY % parameters)
    result = run("codeowners", tmp_path, "--root", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert f"/parameters.yaml {owners}" in result.stdout.splitlines()
