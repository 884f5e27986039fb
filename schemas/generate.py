"""Write docs/schemas/*.json (JSON Schema) and docs/asyncapi.yaml from the models.

    python -m schemas.generate          # (re)write the files
    python -m schemas.generate --check  # exit 1, listing drifted files, without writing

Nothing under docs/schemas/ or docs/asyncapi.yaml is hand-written: edit schemas/*.py and
run `make schemas`. The JSON Schemas are made here, the AsyncAPI document in schemas/asyncapi.py. Output is deterministic so the drift test in tests/unit is meaningful.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from schemas import topics
from schemas.alerts import AcknowledgeRequest, Alert, AlertDetail, AlertPage, SnoozeRequest
from schemas.asyncapi import asyncapi
from schemas.intake import Accepted, Call, ExclusionNotice, LAReturn, LAReturnRecord
from schemas.problem import Problem
from schemas.pupil import Pupil
from schemas.referrals import AcceptRequest, CloseRequest, DeclineRequest, Referral, ReferralPage

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = "docs/schemas"
ASYNCAPI_PATH = "docs/asyncapi.yaml"
SCHEMA_BASE = "https://signpost.example/schemas/"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# Requests and Kafka events use mode="validation": the documents describe what a receiver
# accepts. Responses use mode="serialization": the shape the services emit (identical today,
# as no model has a custom serializer, but it stays right if one is added).
REQUESTS: tuple[type[BaseModel], ...] = (
    ExclusionNotice, Call, LAReturn, LAReturnRecord, Pupil,
    AcknowledgeRequest, SnoozeRequest, AcceptRequest, DeclineRequest, CloseRequest,
)  # fmt: skip
EVENTS = tuple(t.model for t in topics.ALL_TOPICS)  # every topic's payload gets a file too
RESPONSES: tuple[type[BaseModel], ...] = (Accepted, Problem, Alert, AlertDetail, AlertPage, Referral, ReferralPage)


def public_models() -> dict[str, tuple[type[BaseModel], JsonSchemaMode]]:
    """Every public payload by name, with the JSON Schema mode used for it."""
    out: dict[str, tuple[type[BaseModel], JsonSchemaMode]] = {}
    groups: tuple[tuple[tuple[type[BaseModel], ...], JsonSchemaMode], ...] = (
        (REQUESTS, "validation"), (EVENTS, "validation"), (RESPONSES, "serialization"))
    for models, mode in groups:
        for model in models:
            out.setdefault(model.__name__, (model, mode))
    return dict(sorted(out.items()))


def json_schema(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
    # pydantic already sorts keys except where order means something (properties follow the fields).
    return {
        "$schema": DRAFT_2020_12,
        "$id": f"{SCHEMA_BASE}{model.__name__}.json",
        **model.model_json_schema(mode=mode),
    }


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no type information
    def ignore_aliases(self, data: Any) -> bool:  # no &id001 anchors: plain, diffable YAML
        return True


def render() -> dict[str, str]:
    """Every generated file (path relative to the repository root) and its exact content."""
    files = {
        f"{SCHEMA_DIR}/{name}.json": json.dumps(json_schema(model, mode), indent=2, ensure_ascii=False) + "\n"
        for name, (model, mode) in public_models().items()
    }
    files[ASYNCAPI_PATH] = yaml.dump(
        asyncapi(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120
    )
    return files


def drift(root: Path = ROOT) -> list[str]:
    """Files that differ from what the models generate, are missing, or are extra in docs/schemas/."""
    expected = render()
    problems = []
    for rel, text in expected.items():
        path = root / rel
        if not path.exists():
            problems.append(f"{rel}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{rel}: differs")
    for path in sorted((root / SCHEMA_DIR).glob("*.json")):
        rel = path.relative_to(root).as_posix()
        if rel not in expected:
            problems.append(f"{rel}: extra (no model generates it)")
    return problems


def write(root: Path = ROOT) -> list[str]:
    """Write every generated file and remove stale ones from docs/schemas/; returns what changed."""
    problems = drift(root)
    expected = render()
    (root / SCHEMA_DIR).mkdir(parents=True, exist_ok=True)
    for path in (root / SCHEMA_DIR).glob("*.json"):
        if path.relative_to(root).as_posix() not in expected:
            path.unlink()
    for rel, text in expected.items():
        (root / rel).write_text(text, encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list drifted files and exit 1; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for line in problems:
            sys.stderr.write(line + "\n")
        if problems:
            sys.stderr.write("generated docs are out of date: run `make schemas`\n")
        return 1 if problems else 0
    for line in write():
        sys.stdout.write(f"{line}: fixed\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
