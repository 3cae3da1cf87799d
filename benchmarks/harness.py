"""Processes the socket benchmarks drive: server nodes and client fleets.

Each is a child process spoken to in JSON lines over its stdin and stdout
(see ``benchmarks.nodes`` and ``benchmarks.wsclients``); its stderr goes to
a log file, shown when it fails. Every wait is bounded, and every child is
ended by its own process id when the benchmark is done with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import ROOT, python

CLIENT_PROCESSES = 4
SOCKETS_PER_CLIENT = 500


class ChildError(RuntimeError):
    pass


class Child:
    """One helper process speaking JSON lines."""

    def __init__(self, name: str, argv: Sequence[str], log: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 60) -> dict[str, Any]:
        """Start the process; returns the first line it says."""
        with open(self.log, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=64 << 20,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return await self.receive(timeout)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def send(self, command: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def receive(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            raise ChildError(f"{self.name}: no answer in {timeout:.0f} s") from None
        if not line:
            raise ChildError(f"{self.name} exited: {self.tail(1) or 'no output'}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        await self.send(command)
        return await self.receive(timeout)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        try:
            assert process.stdin is not None
            process.stdin.write(b'{"cmd": "quit"}\n')
            await process.stdin.drain()
            process.stdin.close()
            await asyncio.wait_for(process.wait(), 10)
        except (TimeoutError, ConnectionError):
            process.kill()
            await process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- what the kernel says about a process ------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far, to the nanosecond.

    ``/proc/<pid>/task/*/schedstat`` counts time on a CPU in nanoseconds,
    where ``/proc/<pid>/stat`` counts clock ticks (10 ms); the tick count
    is the fallback on kernels without schedstat.
    """
    try:
        return (
            sum(
                int((task / "schedstat").read_text().split()[0])
                for task in Path(f"/proc/{pid}/task").iterdir()
            )
            / 1e9
        )
    except (FileNotFoundError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        # After the command name: state is field 3; utime and stime are 14, 15.
        return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ChildError(f"no VmRSS for process {pid}")


# -- server nodes ---------------------------------------------------------------------


class Node(Child):
    """A server of ``benchmarks.nodes``: ``port``, ``room`` and ``url`` once up."""

    def __init__(self, kind: str, workdir: Path, *options: str) -> None:
        self.kind = kind
        argv = [python(), "-m", "benchmarks.nodes", kind, "--workdir", str(workdir)]
        name = f"{kind}-{uuid.uuid4().hex[:6]}"
        super().__init__(name, [*argv, *options], workdir / f"{name}.log")
        self.port = 0
        self.room = ""

    async def start(self, timeout: float = 60) -> dict[str, Any]:
        hello = await super().start(timeout)
        self.port, self.room = hello["port"], hello["room"]
        return hello

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket/"

    async def emit(self, count: int, gap: float, timeout: float) -> dict[str, Any]:
        return await self.ask({"cmd": "emit", "count": count, "gap": gap}, timeout)


# -- client fleets --------------------------------------------------------------------


class Clients:
    """Several ``benchmarks.wsclients`` processes, each holding many sockets."""

    def __init__(self, workdir: Path, processes: int = CLIENT_PROCESSES) -> None:
        self.children = [
            Child(
                f"clients-{n}",
                [python(), "-m", "benchmarks.wsclients"],
                workdir / f"clients-{n}.log",
            )
            for n in range(processes)
        ]
        self.connected = 0

    async def start(self) -> None:
        await asyncio.gather(*(child.start() for child in self.children))

    async def stop(self) -> None:
        await asyncio.gather(*(child.stop() for child in self.children))

    def cpu(self) -> float:
        return sum(cpu_seconds(c.pid) for c in self.children if c.process)

    def used(self, sockets: int) -> list[Child]:
        """As few processes as hold ``sockets`` at ``SOCKETS_PER_CLIENT`` each."""
        wanted = -(-sockets // SOCKETS_PER_CLIENT)
        return self.children[: max(1, min(len(self.children), wanted))]

    async def connect(
        self, nodes: Sequence[Node], sockets: int, *, roomcast: bool, timeout: float
    ) -> dict[str, Any]:
        """Open ``sockets`` sockets spread over the processes and the nodes."""
        children = self.used(sockets)
        shares = [sockets // len(children)] * len(children)
        for n in range(sockets % len(children)):
            shares[n] += 1
        commands = []
        first_user = 0
        for n, (child, share) in enumerate(zip(children, shares, strict=True)):
            node = nodes[n % len(nodes)]
            command = {
                "cmd": "connect",
                "url": node.url,
                "count": share,
                "roomcast": roomcast,
                "room": node.room,
                "users_from": first_user,
            }
            first_user += share
            commands.append(child.ask(command, timeout))
        answers = await asyncio.gather(*commands)
        self.connected = sum(a["connected"] for a in answers)
        errors = sorted({e for a in answers for e in a["errors"]})
        return {
            "connected": self.connected,
            "failed": sum(a["failed"] for a in answers),
            "seconds": max(a["seconds"] for a in answers),
            "errors": errors[:5],
        }

    async def arm(self, events: int, timeout: float, latency: bool) -> list[Child]:
        """Tell every process to count ``events`` per socket from now on."""
        children = [c for c in self.children if c.process is not None]
        command = {
            "cmd": "expect",
            "events": events,
            "timeout": timeout,
            "latency": latency,
        }
        for child in children:
            await child.send(command)
        for child in children:
            armed = await child.receive(30)
            if not armed.get("armed"):
                raise ChildError(f"{child.name}: {armed}")
        return children

    async def results(self, children: list[Child], timeout: float) -> dict[str, Any]:
        answers = await asyncio.gather(*(c.receive(timeout) for c in children))
        latencies: list[int] = []
        for answer in answers:
            latencies.extend(answer.get("latencies_us", ()))
        return {
            "received": sum(a["received"] for a in answers),
            "complete": all(a["complete"] for a in answers),
            "last_ns": max(a["last_ns"] for a in answers),
            "latencies_us": latencies,
        }

    async def close(self, timeout: float = 60) -> int:
        answers = await asyncio.gather(
            *(c.ask({"cmd": "close"}, timeout) for c in self.children)
        )
        self.connected = 0
        return sum(a["dropped"] for a in answers)
