"""Live drift: what was changed in the cluster outside Pulumi (a weight edited with kubectl, an object deleted).

Read from `pulumi refresh --preview-only --json`, which compares each object as the stack last deployed it
with the live object and changes nothing. It is not `preview --refresh`: a config change that is not
deployed yet is not drift, and an edited field that server-side apply would refuse to take back shows as a
difference here rather than as a failed preview.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# One step of a detailedDiff path: .name, ["key with dots"] or [index]
_PATH_PART = re.compile(r'\.?([A-Za-z0-9_$-]+)|\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]')
_MISSING = object()


@dataclass(frozen=True)
class DriftedField:
    kind: str  # Ingress, Service, VirtualService, ...
    name: str  # namespace/name (or the resource name when the live object is gone)
    field: str  # the path in the object, "" when the whole object was deleted
    stack: Any = None  # the value as the stack deployed it
    live: Any = None  # the value in the cluster (None: absent)

    def describe(self) -> str:
        if not self.field:
            return f"{self.kind} {self.name}: deleted outside Pulumi"
        return f"{self.kind} {self.name} {self.field}: stack {_shown(self.stack)}, live {_shown(self.live)}"


def _shown(value: Any) -> str:
    return "absent" if value is _MISSING or value is None else repr(value)


def _at(document: Any, path: str) -> Any:
    value = document
    for name, key, index in _PATH_PART.findall(path):
        if index:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else _MISSING
        else:
            value = value.get(name or key.replace('\\"', '"'), _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return None
    return value


def _identity(step: dict[str, Any]) -> tuple[str, str]:
    urn = step.get("urn", "")
    kind = urn.split("::")[-2].rsplit("$", 1)[-1].rsplit(":", 1)[-1] if "::" in urn else "resource"
    state = step.get("oldState") or step.get("newState") or {}
    metadata = (state.get("outputs") or {}).get("metadata") or {}
    name = metadata.get("name") or urn.rsplit("::", 1)[-1]
    return kind, f"{metadata['namespace']}/{name}" if metadata.get("namespace") else name


def drifted_fields(refresh_preview: dict[str, Any]) -> list[DriftedField]:
    """Every field (or object) of the refresh preview's steps that differs between the stack and the cluster."""
    fields: list[DriftedField] = []
    for step in refresh_preview.get("steps") or []:
        op = step.get("op")
        if op in ("delete", "discard"):
            fields.append(DriftedField(*_identity(step), field=""))
        elif op == "update":
            kind, name = _identity(step)
            old = (step.get("oldState") or {}).get("outputs") or {}
            new = (step.get("newState") or {}).get("outputs") or {}
            for path in sorted(step.get("detailedDiff") or {"(unnamed field)": {}}):
                fields.append(DriftedField(kind, name, path, _at(old, path), _at(new, path)))
    return fields


def remedy(stack: str) -> str:
    """The two ways out of drift. The `up` needs --refresh: without it the engine compares the program with the
    stack's state only, which still holds the old values, and finds nothing to change."""
    return (f"put the stack's values back with `pulumi up --refresh --stack {stack}` (the routing objects force "
            f"their fields back), or keep a change by putting it in the stack config first (a weight: "
            f"release.canaryWeight), then `pulumi up --refresh --stack {stack}`")


def drift_report(stack: str, fields: list[DriftedField]) -> str:
    """What drifted, and the two ways out."""
    listed = "\n".join(f"  {field.describe()}" for field in fields)
    return (f"the live objects differ from what stack {stack} deployed (changed outside Pulumi):\n{listed}\n"
            f"To fix it, {remedy(stack)}.")


def main(argv: list[str] | None = None) -> int:
    """`python -m ops.live_drift FILE --stack S`: name every drifted field of a saved `pulumi refresh --preview-only
    --json` (the drift workflow), as GitHub annotations with --github. Exit 1 when something drifted."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m ops.live_drift", description=main.__doc__)
    parser.add_argument("file", type=Path, help="what `pulumi refresh --preview-only --json` printed")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--github", action="store_true", help="print each field as a GitHub ::error annotation")
    args = parser.parse_args(argv)
    try:
        fields = drifted_fields(json.loads(args.file.read_text()))
    except (OSError, ValueError, AttributeError) as error:
        print(f"error: {args.file}: not the JSON of `pulumi refresh --preview-only --json` ({error})")
        return 2
    if not fields:
        print(f"stack {args.stack}: no drift (the live objects are what the stack deployed)")
        return 0
    print(drift_report(args.stack, fields))
    if args.github:
        for field in fields:
            print(f"::error title=drift in stack {args.stack}::{field.describe()}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
