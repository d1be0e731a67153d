"""``python3 scripts/devstack/__main__.py COMMAND`` (what ``./dev`` runs): the package's folder
is on sys.path when run this way; its parent must be, for ``import devstack``."""

import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
sys.path.insert(0, str(here.parent))

from devstack.cli import main  # noqa: E402 - after the path is set

sys.exit(main(sys.argv[1:]))
