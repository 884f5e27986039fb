"""Signpost's payloads: the one definition every service imports (pydantic v2).

`make schemas` writes docs/schemas/*.json (JSON Schema) and docs/asyncapi.yaml from these
models; a test fails when the committed files drift from the code.
"""
