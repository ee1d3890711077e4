"""`make mutation`: run mutmut on the decision cores ([tool.mutmut] in pyproject.toml) and print, per module,
how many mutants the tests killed. Mutants listed in tests/mutation-equivalents.txt (an equivalent change:
no test can tell it from the original) leave the count, each with its reason written beside it there.

Not part of `make test`: it runs the selected tests once per mutant (minutes, not seconds)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
EQUIVALENTS = PROJECT_DIR / "tests" / "mutation-equivalents.txt"
LOG = PROJECT_DIR / "build" / "mutation.log"
GOAL = 0.90
MUTMUT = [sys.executable, "-m", "mutmut"]


def equivalents() -> dict[str, str]:
    """`mutant-name  # reason` per line; a line without a reason is refused (it would hide a weak test)."""
    found = {}
    for number, line in enumerate(EQUIVALENTS.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, _, reason = line.partition("#")
        if not reason.strip():
            raise SystemExit(f"{EQUIVALENTS}:{number}: {name.strip()} has no reason; write why no test can kill it")
        found[name.strip()] = reason.strip()
    return found


def module_of(mutant: str) -> str:
    """`ops.gates.x__ask__mutmut_2` -> `ops/gates.py`."""
    parts = mutant.split(".")
    index = next(i for i, part in enumerate(parts) if part.startswith(("x_", "xǁ")))
    return "/".join(parts[:index]) + ".py"


def scores(results: list[tuple[str, str]], excluded: dict[str, str]) -> dict[str, Counter[str]]:
    per_module: dict[str, Counter[str]] = defaultdict(Counter)
    for mutant, status in results:
        per_module[module_of(mutant)]["equivalent" if mutant in excluded else status] += 1
    return per_module


def main() -> int:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    print(f"mutation: running mutmut (progress in {LOG.relative_to(PROJECT_DIR)}) …", flush=True)
    with LOG.open("w") as log:
        run = subprocess.run([*MUTMUT, "run"], cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT)
    if run.returncode != 0:
        print(f"error: mutmut run exited {run.returncode}; see {LOG}", file=sys.stderr)
        return 1
    listed = subprocess.run([*MUTMUT, "results", "--all", "true"], cwd=PROJECT_DIR, capture_output=True, text=True,
                            check=True).stdout
    results = [(name.strip(), status.strip()) for name, _, status in
               (line.rpartition(":") for line in listed.splitlines() if ":" in line)]
    excluded = equivalents()
    below = []
    print(f"{'module':38} {'killed':>7} {'survived':>9} {'no test':>8} {'timeout':>8} {'equiv.':>7} {'score':>7}")
    for module, counts in sorted(scores(results, excluded).items()):
        # A timeout is inconclusive (a mutant that loops, or a machine too busy): shown, left out of the score.
        judged = counts["killed"] + counts["survived"] + counts["no tests"]
        score = counts["killed"] / judged if judged else 1.0
        print(f"{module:38} {counts['killed']:7} {counts['survived']:9} {counts['no tests']:8} {counts['timeout']:8} "
              f"{counts['equivalent']:7} {score:7.1%}")
        if score < GOAL:
            below.append(module)
    print(f"goal: {GOAL:.0%} killed per module; below it: {', '.join(below) or 'none'}. "
          "Survivors: `.venv/bin/mutmut results`, one in full: `.venv/bin/mutmut show NAME`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
