"""`python -m ops.engine [--bin]`: the engine build with the standard library only, so `make engine` runs
before the project's virtualenv exists (`python -m ops engine` is the same command inside it)."""

import sys

from ops.engine.cli import main

sys.exit(main(sys.argv[1:]))
