"""Connections: many authenticated sockets on one process, and one event to all.

A roomcast node (``benchmarks.nodes roomcast``, its file limit raised to the
hard limit) takes N sockets, each authenticated as its own user in the
Socket.IO handshake and joined to one channel's room with a room token. The
benchmark reports how fast they connect, the node's resident memory per
connection (RSS after minus RSS before, over N; the node has served a few
sockets first so that lazy imports and caches are not counted), and, for a
few events written one at a time, the time from the write until the last of
the N sockets has it. A bare python-socketio server with the same sockets
(no authentication, no join) runs after it for comparison.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

from .common import Run, arguments, fixed, text
from .harness import Clients, Node, cpu_seconds, rss_bytes

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"sockets": 50, "events": 2},
    "short": {"sockets": 2000, "events": 3},
    "full": {"sockets": 10_000, "events": 5},
}
WARM_SOCKETS = 20
MiB = 1024 * 1024


async def measure(node: Node, clients: Clients, sockets: int, events: int) -> Any:
    roomcast = node.kind == "roomcast"
    row: dict[str, Any] = {"server": node.kind, "sockets": sockets}

    # A few sockets first, so that what is loaded once is not counted.
    await clients.connect([node], WARM_SOCKETS, roomcast=roomcast, timeout=60)
    await one_event(node, clients, WARM_SOCKETS)
    await clients.close()
    await asyncio.sleep(0.5)
    before = rss_bytes(node.pid)

    joined = await clients.connect(
        [node], sockets, roomcast=roomcast, timeout=120 + sockets / 20
    )
    await asyncio.sleep(0.5)
    after = rss_bytes(node.pid)
    row.update(
        connected=joined["connected"],
        connect_s=joined["seconds"],
        connects_per_s=joined["connected"] / joined["seconds"],
        rss_before_mib=before / MiB,
        rss_after_mib=after / MiB,
        kib_per_socket=(after - before) / 1024 / max(1, joined["connected"]),
    )
    if joined["connected"] != sockets:
        row["error"] = f"{joined['failed']} sockets failed: {joined['errors']}"
        return row

    reach: list[float] = []
    medians: list[float] = []
    cpu = 0.0
    for _ in range(events):
        started = cpu_seconds(node.pid)
        got = await one_event(node, clients, sockets)
        cpu += cpu_seconds(node.pid) - started
        if not got["complete"]:
            row["error"] = f"an event reached {got['received']} of {sockets}"
            return row
        reach.append(max(got["latencies_us"]) / 1000)
        medians.append(statistics.median(got["latencies_us"]) / 1000)
        await asyncio.sleep(0.2)
    row.update(
        events=events,
        reach_all_ms=statistics.median(reach),
        reach_all_worst_ms=max(reach),
        p50_ms=statistics.median(medians),
        cpu_us_per_delivery=cpu / (events * sockets) * 1e6,
    )
    return row


async def one_event(node: Node, clients: Clients, sockets: int) -> dict[str, Any]:
    timeout = 30 + sockets / 500
    armed = await clients.arm(1, timeout, latency=True)
    await node.emit(1, 0.0, timeout)
    return await clients.results(armed, timeout + 30)


COLUMNS = [
    ("server", "server", text),
    ("sockets", "sockets", fixed(0)),
    ("connected", "connected", fixed(0)),
    ("connects_per_s", "connects/s", fixed(0)),
    ("kib_per_socket", "KiB/socket", fixed(1)),
    ("rss_after_mib", "RSS MiB", fixed(0)),
    ("reach_all_ms", "to all ms", fixed(1)),
    ("reach_all_worst_ms", "worst ms", fixed(1)),
    ("p50_ms", "p50 ms", fixed(1)),
    ("cpu_us_per_delivery", "CPU us/delivery", fixed(1)),
    ("error", "error", text),
]


async def main_async(mode: str, out: Path) -> Path:
    sizes = SIZES[mode]
    run = Run("connections", mode, dict(sizes))
    with tempfile.TemporaryDirectory(prefix="roomcast-connections-") as tmp:
        workdir = Path(tmp)
        clients = Clients(workdir)
        await clients.start()
        try:
            for kind in ("roomcast", "socketio"):
                node = Node(kind, workdir, "--channel", str(uuid.uuid1()))
                try:
                    hello = await node.start()
                    run.parameters[f"{kind}_file_limit"] = hello["file_limit"]
                    row = await measure(node, clients, **sizes)
                    row["dropped"] = await clients.close(timeout=120)
                finally:
                    await node.stop()
                run.add(row)
                print(
                    f"{kind}: {row.get('connected')} sockets, "
                    f"{row.get('kib_per_socket', 0):.1f} KiB each, "
                    f"one event to all in {row.get('reach_all_ms')} ms",
                    flush=True,
                )
        finally:
            await clients.stop()
    run.note(
        "roomcast sockets authenticate in the handshake and join one room with "
        "a room token; bare python-socketio sockets only connect (it puts them "
        "in the room)"
    )
    run.note(
        "KiB/socket: the server's RSS after connecting minus before, over the "
        "sockets; to all: from the write to the last socket's receipt, median "
        "over the events (each written alone)"
    )
    run.note(
        "client processes share the machine's 2 cores with the server: "
        "timings are noisy"
    )
    return run.finish(out, COLUMNS)


def main(argv: list[str] | None = None) -> Path:
    parser = arguments(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args.mode, args.out))


if __name__ == "__main__":
    main()
