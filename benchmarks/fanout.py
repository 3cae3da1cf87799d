"""Fan-out: N sockets in one room, M events, against bare baselines.

Servers (each a process of its own, see ``benchmarks.nodes``):

``roomcast``
    one real node; events published in-process through its change feed as a
    ``realtime_created`` call publishes them (no HTTP request or database
    write: those are not fan-out, and would be the same with any transport).
``roomcast-nofeed``
    the same node with the durable change feed off (events are not recorded
    in the database before they are published): the feed's cost.
``roomcast-redis``
    two nodes joined by the Redis bus; half the sockets on each, events
    published on the first; CPU is both nodes' (Redis's own is not counted).
``socketio``
    bare python-socketio ``AsyncServer`` (Tornado mode), ``emit`` to a room.
``socketio-redis``
    two bare python-socketio nodes joined by its own ``AsyncRedisManager``,
    half the sockets on each, events emitted on the first: the other way to
    join nodes over Redis.
``tornado``
    bare Tornado WebSocket, one encoded frame written to every socket: the
    practical ceiling.

Clients are ``benchmarks.wsclients`` processes (up to four, each holding
many aiohttp WebSockets that speak the Engine.IO framing themselves).
For each N the same frames go through two phases (540 bytes: a new chat
message, whose resource is about 270 bytes, in roomcast's event envelope):

* throughput: M events written back to back; deliveries/s is N x M over the
  time from the first write to the last receipt, and CPU per delivery is the
  server process's CPU time over that phase divided by N x M;
* latency: a few events written far enough apart that each fans out alone;
  p50 and p99 of write-to-receipt over every delivery.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .common import Run, arguments, fixed, percentile, service_url, text
from .harness import ChildError, Clients, Node, cpu_seconds

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"sockets": [20], "deliveries": 400, "latency_events": 4},
    "short": {"sockets": [100, 1000], "deliveries": 15_000, "latency_events": 10},
    "full": {
        "sockets": [100, 1000, 5000],
        "deliveries": 100_000,
        "latency_events": 30,
    },
}
MIN_EVENTS, MAX_EVENTS = 5, 300
KINDS = (
    "roomcast",
    "roomcast-nofeed",
    "roomcast-redis",
    "socketio",
    "socketio-redis",
    "tornado",
)
# The least deliveries/s a timeout allows for; below it a phase is cut short.
FLOOR_RATE = 1500


class Server:
    """One contender: its nodes (two for roomcast-redis) and how to reach them."""

    def __init__(self, kind: str, nodes: list[Node]) -> None:
        self.kind = kind
        self.nodes = nodes

    @property
    def roomcast(self) -> bool:
        return self.kind.startswith("roomcast")

    def cpu(self) -> float:
        return sum(cpu_seconds(node.pid) for node in self.nodes)

    async def start(self) -> None:
        for node in self.nodes:
            await node.start()

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes))


def servers(
    workdir: Path, run: Run, profile: Path | None, only: list[str] | None
) -> list[Server]:
    made = []
    for kind in KINDS:
        if only and kind not in only:
            continue
        home = workdir / kind
        home.mkdir()
        options = ["--channel", str(uuid.uuid1())]
        if profile is not None and kind == "roomcast":
            options += ["--profile", str(profile / "fanout-roomcast.html")]
        if kind.endswith("-redis"):
            redis = service_url("redis")
            if redis is None:
                run.skip(kind, "ROOMCAST_TEST_REDIS_URL unset: run `make services`")
                continue
            channel = f"roomcast:bench:{uuid.uuid4().hex[:8]}"
            options += ["--redis", redis, "--redis-channel", channel]
            base = kind.removesuffix("-redis")
            nodes = [Node(base, home, *options) for _ in range(2)]
        elif kind == "roomcast-nofeed":
            nodes = [Node("roomcast", home, *options, "--no-feed")]
        else:
            nodes = [Node(kind, home, *options)]
        made.append(Server(kind, nodes))
    return made


async def measure(
    server: Server, clients: Clients, sockets: int, sizes: dict[str, Any]
) -> dict[str, Any]:
    row: dict[str, Any] = {"server": server.kind, "sockets": sockets}
    joined = await clients.connect(
        server.nodes, sockets, roomcast=server.roomcast, timeout=60 + sockets / 50
    )
    row["connect_s"] = joined["seconds"]
    if joined["connected"] != sockets:
        row["error"] = f"{joined['failed']} sockets failed: {joined['errors']}"
        return row
    publisher = server.nodes[0]

    # One event first: every socket is in the room and the paths are warm.
    warm = await phase(clients, publisher, 1, 0.0, latency=False, sockets=sockets)
    if not warm["complete"]:
        row["error"] = f"warm-up: {warm['received']} of {sockets} received"
        return row

    events = max(MIN_EVENTS, min(MAX_EVENTS, sizes["deliveries"] // sockets))
    cpu_before, client_cpu_before = server.cpu(), clients.cpu()
    burst = await phase(clients, publisher, events, 0.0, latency=False, sockets=sockets)
    cpu = server.cpu() - cpu_before
    client_cpu = clients.cpu() - client_cpu_before
    seconds = (burst["last_ns"] - burst["first_ns"]) / 1e9
    delivered = burst["received"]
    rate = delivered / seconds if seconds > 0 else None
    row.update(
        events=events,
        deliveries=delivered,
        complete=burst["complete"],
        frame_bytes=burst["frame_bytes"],
        deliveries_per_s=rate,
        cpu_us_per_delivery=cpu / delivered * 1e6 if delivered else None,
        client_cpu_us_per_delivery=client_cpu / delivered * 1e6 if delivered else None,
    )

    # Far enough apart that each event fans out alone.
    gap = min(1.0, max(0.02, 1.5 * sockets / (rate or FLOOR_RATE)))
    spaced = await phase(
        clients,
        publisher,
        sizes["latency_events"],
        gap,
        latency=True,
        sockets=sockets,
    )
    latencies = spaced["latencies_us"]
    row.update(
        latency_events=sizes["latency_events"],
        latency_gap_s=round(gap, 3),
        p50_ms=ms(percentile(latencies, 0.50)),
        p99_ms=ms(percentile(latencies, 0.99)),
        max_ms=ms(max(latencies, default=None)),
    )
    if not (burst["complete"] and spaced["complete"]):
        row["error"] = "some deliveries did not arrive before the timeout"
    return row


async def phase(
    clients: Clients,
    publisher: Node,
    events: int,
    gap: float,
    *,
    latency: bool,
    sockets: int,
) -> dict[str, Any]:
    """Arm the clients, have ``publisher`` write ``events``, collect receipts."""
    timeout = 20 + events * gap + events * sockets / FLOOR_RATE
    armed = await clients.arm(events, timeout, latency)
    written = await publisher.emit(events, gap, timeout)
    received = await clients.results(armed, timeout + 30)
    return {**received, **written}


def ms(micros: float | None) -> float | None:
    return None if micros is None else micros / 1000


def compare(rows: list[dict[str, Any]]) -> None:
    """Add, to roomcast's rows, its ratios to the baselines at the same N."""
    by = {(r["server"], r["sockets"]): r for r in rows}
    for row in rows:
        if not row["server"].startswith("roomcast"):
            continue
        for baseline in ("socketio", "tornado"):
            other = by.get((baseline, row["sockets"]), {}).get("deliveries_per_s")
            mine = row.get("deliveries_per_s")
            row[f"vs_{baseline}"] = mine / other if mine and other else None


COLUMNS = [
    ("server", "server", text),
    ("sockets", "sockets", fixed(0)),
    ("events", "events", fixed(0)),
    ("deliveries_per_s", "deliveries/s", fixed(0)),
    ("cpu_us_per_delivery", "CPU us/delivery", fixed(1)),
    ("client_cpu_us_per_delivery", "clients us", fixed(1)),
    ("p50_ms", "p50 ms", fixed(1)),
    ("p99_ms", "p99 ms", fixed(1)),
    ("vs_socketio", "x socketio", fixed(2)),
    ("vs_tornado", "x tornado", fixed(2)),
    ("connect_s", "connect s", fixed(1)),
    ("error", "error", text),
]


async def main_async(
    mode: str, out: Path, profile: Path | None, only: list[str] | None
) -> Path:
    sizes = SIZES[mode]
    run = Run("fanout", mode, dict(sizes))
    with tempfile.TemporaryDirectory(prefix="roomcast-fanout-") as tmp:
        workdir = Path(tmp)
        contenders = []
        clients = Clients(workdir)
        try:
            await clients.start()
            for server in servers(workdir, run, profile, only):
                try:
                    await server.start()
                except ChildError as exc:
                    run.skip(server.kind, f"did not start: {exc}")
                    await server.stop()
                    continue
                contenders.append(server)
            # N outermost, so that every server at one N runs at nearly the
            # same time, under the same load from the rest of the machine.
            for sockets in sizes["sockets"]:
                for server in contenders:
                    started = time.monotonic()
                    row = await measure(server, clients, sockets, sizes)
                    dropped = await clients.close()
                    if dropped:
                        row["dropped"] = dropped
                    row["case_s"] = round(time.monotonic() - started, 1)
                    print(progress(row), flush=True)
                    run.add(row)
        finally:
            await clients.stop()
            for server in contenders:
                await server.stop()
    compare(run.results)
    run.parameters["frame_bytes"] = next(
        (r["frame_bytes"] for r in run.results if "frame_bytes" in r), None
    )
    run.note(
        "roomcast events go through the change feed in-process (feed.publish "
        "of a Message, then feed.flush, as realtime_created does), not REST"
    )
    run.note(
        "deliveries/s: N x M over first write to last receipt; CPU: the "
        "server processes' user+system time over that phase / deliveries"
    )
    run.note(
        "latency: write-to-receipt over every delivery of events written far "
        "enough apart to fan out alone; client processes share the 2 cores"
    )
    run.note(
        "2 shared cores: absolute figures are noisy, same-run ratios are the "
        "figures to read"
    )
    if profile is not None:
        run.note(
            f"roomcast ran under pyinstrument (profile in {profile}): its "
            "figures include the profiler's own cost"
        )
    return run.finish(out, COLUMNS)


def progress(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['server']:15} {row['sockets']:6} sockets: {row['error']}"
    return (
        f"{row['server']:15} {row['sockets']:6} sockets: "
        f"{row['deliveries_per_s']:9.0f} deliveries/s, "
        f"{row['cpu_us_per_delivery']:6.1f} us CPU each, "
        f"p99 {row['p99_ms']:.1f} ms ({row['case_s']} s)"
    )


def main(argv: list[str] | None = None) -> Path:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument(
        "--servers", help=f"comma-separated subset of {','.join(KINDS)}"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile the roomcast node with pyinstrument, into this folder",
    )
    args = parser.parse_args(argv)
    only = args.servers.split(",") if args.servers else None
    return asyncio.run(main_async(args.mode, args.out, args.profile, only))


if __name__ == "__main__":
    main()
