"""The exit codes of every `python -m ops` command, defined once (docs/operations.md lists them per command).

Below everything else in ops/: the pure release state machine decides an exit code too, so this module
imports nothing.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # plan, check: a mandatory check failed
EXIT_ROLLED_BACK = 1  # promote: a gate or an up failed and the rollback succeeded
EXIT_CANNOT_RESTORE = 1  # restore: the repository cannot serve the target (no backup, none old enough, no pod)
EXIT_USAGE = 2  # every command: bad arguments or config, nothing changed
# promote: the config names nothing to release, or contradicts the release in progress. Nothing changed,
# and the fix is in the config, not in the cluster: the code of a usage error.
EXIT_REFUSED = EXIT_USAGE
EXIT_ROLLBACK_FAILED = 3  # promote, rollback: the rollback `up` failed too; traffic state needs a human
