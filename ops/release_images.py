"""The images a pull request would deploy: both colours' `release.<colour>.image` of each stack file it changes.

    python -m ops.release_images Pulumi.prod.yaml [Pulumi.dev.yaml ...]

prints a JSON list of distinct image references (what `.github/workflows/preview.yml` scans with Trivy before
merge). Each stack is read and validated as the program reads it (ops/stackconfig.py), so a refused image
fails here with the same message, exit 2. Paths that are not a stack file are ignored; so are stacks whose
images are never pulled (UNPULLED_STACKS).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from components.config import COLORS, ConfigError
from ops.stackconfig import PROJECT_DIR, UsageError, load_stack_config

# kwok runs no containers: the local stack's images are scheduled, never pulled, so there is nothing to scan.
UNPULLED_STACKS = {"local"}
_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.yaml$")


def changed_stacks(paths: list[str]) -> list[str]:
    """Stack names of the changed paths that are stack files at the project's top level, in order, once each."""
    stacks: list[str] = []
    for path in paths:
        match = _STACK_FILE.match(path)
        if match and match.group("stack") not in stacks and match.group("stack") not in UNPULLED_STACKS:
            stacks.append(match.group("stack"))
    return stacks


def release_images(stacks: list[str], project_dir: Path = PROJECT_DIR) -> list[str]:
    """Both colours' images of each stack, each distinct reference once (a colour at 0 replicas included: the
    next release scales it up without another look at its image)."""
    images: list[str] = []
    for stack in stacks:
        release = load_stack_config(stack, project_dir=project_dir).model().release
        for colour in COLORS:
            image = release.color(colour).image
            if image not in images:
                images.append(image)
    return images


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    stacks = [stack for stack in changed_stacks(paths) if (PROJECT_DIR / f"Pulumi.{stack}.yaml").is_file()]
    try:
        images = release_images(stacks)
    except (ConfigError, UsageError) as error:
        print(error, file=sys.stderr)
        return 2
    print(json.dumps(images))
    return 0


if __name__ == "__main__":
    sys.exit(main())
