"""`pychat migrate`, as the command line runs it (appliance/__main__.py)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ..engine_mark import POSTGRESQL_MARK, mark_postgresql


def run_migrate(url: str, chunk: int, db_path: Path) -> int:
    """Exit status: 0 copied and verified, 1 refused, failed or different, 2 bad arguments."""
    if not url.startswith(("postgresql://", "postgres://")) or chunk < 1:
        print("pychat: migrate --to takes a postgresql:// URL (and --chunk >= 1)", file=sys.stderr)
        return 2
    try:  # the cluster extra (asyncpg) is not in the appliance's image
        from .migrate import MigrationFailed, MigrationRefused, migrate, table_lines
    except ImportError:
        print(
            "pychat: migrate needs the cluster extra: pip install 'pychat-appliance[cluster]'",
            file=sys.stderr,
        )
        return 2
    try:
        reports = asyncio.run(migrate(db_path, url, chunk=chunk, progress=_say))
    except MigrationRefused as e:
        print(f"pychat: migrate refused: {e}", file=sys.stderr)
        return 1
    except MigrationFailed as e:
        print(f"pychat: migrate stopped at {e}; what was copied stays: run it again to"
              " go on", file=sys.stderr)  # fmt: skip
        return 1
    except OSError as e:  # refused, unreachable, name unknown
        print(f"pychat: cannot reach {url.split('@')[-1]}: {e}", file=sys.stderr)
        return 1
    for line in table_lines(reports):
        print(line)
    if all(r.verified for r in reports):
        print("pychat: every table copied and verified")
        try:
            mark_postgresql(db_path.parent)  # from now on its backups are pg_dump's
        except OSError as e:
            print(f"pychat: the data folder could not be marked as moved ({e}): create"
                  f" {db_path.parent / POSTGRESQL_MARK} as its owner", file=sys.stderr)  # fmt: skip
        return 0
    print("pychat: some tables differ: run migrate again", file=sys.stderr)
    return 1


def _say(line: str) -> None:
    print(line, flush=True)
