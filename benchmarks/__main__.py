"""``python -m benchmarks [--full | --tiny] [--only NAME,...] [--out DIR]``.

Runs persistence, fan-out and connections one after the other (the short
sizes by default: under three minutes on two cores), each printing its
table and writing its JSON to ``var/bench/``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import connections, fanout, persistence
from .common import arguments

BENCHMARKS: dict[str, Callable[[list[str]], Path]] = {
    "persistence": persistence.main,
    "fanout": fanout.main,
    "connections": connections.main,
}


def main() -> int:
    parser = arguments("roomcast's benchmarks, one after the other")
    parser.add_argument(
        "--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}"
    )
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}")

    started = time.monotonic()
    written = []
    for name in chosen:
        argv = [f"--{args.mode}", "--out", str(args.out)]
        written.append(BENCHMARKS[name](argv))
    print(f"\nall benchmarks: {time.monotonic() - started:.0f} s")
    for path in written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
