"""What README.md and docs/ tell an operator is what the code does: the quoted messages, the exit codes and the
pinned versions are read from the documents and checked against behaviour (issue 21)."""

from __future__ import annotations

import io
import re

import yaml
from rich.console import Console

from ops.checks.base import CheckResult
from ops.plan import plan
from tests.conftest import PROJECT_DIR

README = (PROJECT_DIR / "README.md").read_text()
OPERATIONS = (PROJECT_DIR / "docs" / "operations.md").read_text()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _run_plan(tmp_path, overrides: tuple[str, ...], checks: list) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, highlight=False)
    outcome = plan("dev", overrides, tmp_path / "plan", checks=checks, console=console)
    return outcome.exit_code, _flat(buffer.getvalue())


def test_readme_plan_example_prints_the_quoted_message_and_exits_as_documented(tmp_path):
    flat = _flat(README)
    example = re.search(r'`make plan ARGS="--set ([^"]+)"` prints `([^`]+)` and writes nothing', flat)
    assert example, "README no longer quotes the invalid-config example"
    codes = re.search(r"Exit codes of `python -m ops plan`: `0` every mandatory check passed, `1` a mandatory "
                      r"check failed, `2` invalid config or usage", flat)
    assert codes, "README's plan exit codes changed: update this test with them"
    exit_code, printed = _run_plan(tmp_path, (example.group(1),), checks=[])
    assert exit_code == 2
    assert example.group(2) in printed
    assert not (tmp_path / "plan").exists()  # "writes nothing"


class _Failing:
    tier, name, mandatory = "T9", "always-fails", True

    def run(self, context) -> CheckResult:
        return CheckResult("fail", "fails on purpose")


def test_readme_plan_exit_codes_0_and_1_are_what_the_plan_returns(tmp_path):
    assert _run_plan(tmp_path / "ok", (), checks=[])[0] == 0
    exit_code, printed = _run_plan(tmp_path / "failing", (), checks=[_Failing()])
    assert exit_code == 1 and "plan written to" in printed and ": exit 1" in printed


def test_operations_promote_exit_table_and_promote_docstring_agree():
    table = re.search(r"\| exit \| meaning \|\n\|---\|---\|\n((?:\|.*\|\n)+)", OPERATIONS)
    assert table, "docs/operations.md lost promote's exit table"
    rows = {int(line.split("|")[1]): line.split("|")[2] for line in table.group(1).splitlines()}
    assert sorted(rows) == [0, 1, 2, 3]
    assert "nothing to promote" in rows[2] and "a release that cannot start" in rows[2]
    docstring = _flat((PROJECT_DIR / "ops" / "promote.py").read_text().split('"""')[1])
    assert "2 nothing changed (usage/config, nothing to promote, a release that cannot start)" in docstring
    assert "1 rolled back (report names the gate)," in docstring  # and nothing else under 1


def test_nothing_to_promote_exits_2_as_documented(capsys):
    from ops.__main__ import main

    # the canary colour set to the active colour's image: nothing to promote
    assert main(["promote", "-s", "prod", "--dry-run", "--set", "release.green.image=doc-rag/api:v1.0.0"]) == 2
    assert "nothing to promote" in capsys.readouterr().out


def test_check_exit_codes_in_operations_md_are_the_documented_ones():
    flat = _flat(OPERATIONS)
    assert "Exit 0 all pass; 1 something failed, or **no live probe ran**" in flat
    assert "without `--offline`" in flat


def test_the_docs_name_the_chart_versions_the_project_pins():
    platform = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]["platform"]["default"]
    istio, nginx = platform["istio"]["version"], platform["ingressNginx"]["version"]
    traffic = _flat((PROJECT_DIR / "docs" / "traffic.md").read_text())
    security = _flat((PROJECT_DIR / "docs" / "security.md").read_text())
    assert f"the platform pins {istio}" in traffic
    assert re.findall(r"the platform pins ([0-9.]+)", traffic) == [istio]
    assert f"{nginx} is pinned" in security
    assert not re.search(r"ingress-nginx 4\.(?!15\.1)[0-9]+'s", security)
