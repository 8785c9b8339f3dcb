"""``python -m appliance.rtc``: the same as ``pychat turn``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .cli import add_turn_arguments, run_turn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appliance.rtc", description="Pychat STUN/TURN server"
    )
    add_turn_arguments(parser)
    args = parser.parse_args(argv)
    return asyncio.run(run_turn(args))


if __name__ == "__main__":
    sys.exit(main())
