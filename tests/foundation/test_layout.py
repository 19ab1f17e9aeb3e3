"""The project's shape: the design card's layout, the two commands, and library purity."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CARD_TOP_LEVEL = {"pipelines", "assets", "ml", "audio", "serving", "dbt", "notebooks", "tests",
                  "workspace.yaml", "pyproject.toml", "README.md"}
ALLOWED_EXTRA = {".ci", "docs", "benchmarks", "uv.lock", ".gitignore", "package.json", "package-lock.json"}


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the Quick start has no code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("congowave run")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert _quick_start_commands()[1] in ci.splitlines()


def test_top_level_follows_the_design_card() -> None:
    tracked = {p.name for p in ROOT.iterdir() if not p.name.startswith(".") or p.name in {".ci", ".gitignore"}}
    ignored = {"data", "node_modules", "test-artifacts", "spark-warehouse", "metastore_db", "derby.log"}
    assert CARD_TOP_LEVEL <= tracked
    assert tracked - ignored <= CARD_TOP_LEVEL | ALLOWED_EXTRA, tracked - CARD_TOP_LEVEL - ALLOWED_EXTRA


def test_audio_and_ml_never_import_dagster() -> None:
    offenders = []
    for package in ("audio", "ml"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(n == "dagster" or n.startswith(("dagster.", "dagster_")) for n in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_dependencies_avoid_the_known_resolver_traps() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"dbt-core[^"]*<1\.12', pyproject)
    assert re.search(r'"s3fs>=2025\.9', pyproject)
    lock = (ROOT / "uv.lock").read_text()
    dbt_core = re.search(r'name = "dbt-core"\nversion = "([^"]+)"', lock)
    assert dbt_core and tuple(int(x) for x in dbt_core.group(1).split(".")[:2]) < (1, 12)
    s3fs = re.search(r'name = "s3fs"\nversion = "([^"]+)"', lock)
    assert s3fs and int(s3fs.group(1).split(".")[0]) >= 2025
