"""Checks in CI (issues 13, 14): `.ci/run` and `make lint` run ruff with the annotation rules, mypy and import-linter,
strict on schemas/ and on every domain/ package; `make test` still runs the suite."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
STRICT_FLAGS = {"disallow_untyped_defs", "disallow_incomplete_defs", "disallow_any_generics", "check_untyped_defs", "warn_return_any"}


def make_target(name: str) -> list[str]:
    text = (ROOT / "Makefile").read_text()
    block = re.search(rf"^{name}:.*\n((?:\t.*\n)+)", text, re.M)
    assert block, f"no `{name}` target"
    return [line.strip() for line in block.group(1).splitlines()]


def test_ci_runs_lint_and_the_suite() -> None:
    steps = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert steps == ["make lint", "make test"]
    assert make_target("lint") == ["$(BIN)/ruff check .", "$(BIN)/mypy", "$(BIN)/lint-imports"]
    assert any(step.startswith("$(BIN)/python -m pytest") for step in make_target("test"))


def test_ruff_selects_the_annotation_rules_for_the_product() -> None:
    lint = PYPROJECT["tool"]["ruff"]["lint"]
    assert "ANN" in lint["select"]
    exempt = {path for path, rules in lint.get("per-file-ignores", {}).items() if "ANN" in rules}
    assert not any(p.startswith(("services", "schemas")) for p in exempt), exempt


def test_mypy_is_strict_on_schemas_and_every_domain_package() -> None:
    domains = sorted(p.parent.parent.name for p in ROOT.glob("services/*/domain/__init__.py"))
    assert domains, "no domain packages found"
    strict = [o for o in PYPROJECT["tool"]["mypy"]["overrides"] if all(o.get(flag) for flag in STRICT_FLAGS)]
    modules = {m for o in strict for m in o["module"]}
    assert {"schemas", "schemas.*"} <= modules
    assert {f"services.{d}.domain.*" for d in domains} | {"services.common.exclusions.*"} <= modules
    ignored = {m for o in PYPROJECT["tool"]["mypy"]["overrides"] if o.get("ignore_errors") for m in o["module"]}
    assert not ignored, f"mypy is clean everywhere: no module has its errors ignored ({sorted(ignored)})"


def test_ruff_passes_on_the_tree() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_import_contracts_of_docs_architecture_hold() -> None:
    """schemas imports nothing of ours, common only schemas, no service another, domain/ no I/O (issue 14),
    with no exception: the rules two services apply are in services/common/exclusions/."""
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    names = [c["name"] for c in contracts]
    assert len(names) == 4 and any("no service imports another" in n for n in names)
    assert not [c["name"] for c in contracts if c.get("ignore_imports")]
    pure = next(c for c in contracts if c["name"].startswith("domain packages are pure"))
    assert "services.common.exclusions" in pure["source_modules"]
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" KEPT") == 4, done.stdout
