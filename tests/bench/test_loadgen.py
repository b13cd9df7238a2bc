"""bench/loadgen.py's fixed-rate driver: open loop, errors by kind, stop."""

import asyncio
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from loadgen import fixed_rate, percentiles, summary


def test_open_loop_keeps_the_schedule_when_the_server_stalls():
    """A send that takes 1 s does not slow the rate; its latency counts from its scheduled time."""
    started: list[float] = []

    async def send(_: str) -> str | None:
        started.append(time.perf_counter())
        await asyncio.sleep(1.0)
        return None

    result = asyncio.run(fixed_rate(send, [str(i) for i in range(20)], rate=20.0))
    assert result.sent == 20 and len(result.latencies) == 20
    assert started[-1] - started[0] < 1.2  # 20 sends in ~0.95 s, none waited for an answer
    assert min(result.latencies) >= 1.0


def test_errors_are_counted_by_kind_with_their_time():
    async def send(item: str) -> str | None:
        if item == "3":
            raise ConnectionResetError
        return "HTTP 502" if item in {"5", "7"} else None

    result = asyncio.run(fixed_rate(send, [str(i) for i in range(10)], rate=50.0))
    assert result.errors == {"ConnectionResetError": 1, "HTTP 502": 2}
    kinds = [kind for _, kind in result.error_times]
    assert kinds == ["ConnectionResetError", "HTTP 502", "HTTP 502"]
    figures = summary([result])
    assert (figures["sent"], figures["ok"], figures["errors"]) == (10, 7, 3)


def test_stop_sends_nothing_more():
    async def main():
        stop = asyncio.Event()

        async def send(_: str) -> str | None:
            return None

        asyncio.get_running_loop().call_later(1.0, stop.set)
        return await fixed_rate(send, [str(i) for i in range(1000)], rate=10.0, stop=stop)

    result = asyncio.run(main())
    assert 8 <= result.sent <= 12  # ~1 s at 10/s, not 100 s worth


def test_a_long_run_starts_on_schedule_without_a_burst():
    """bench/load.py --duration 3600 hands over hours of items: the first requests still leave
    one by one on schedule, not in a burst after the others were set up."""
    started: list[float] = []

    async def main():
        stop = asyncio.Event()

        async def send(_: str) -> str | None:
            started.append(time.perf_counter())
            return None

        asyncio.get_running_loop().call_later(1.5, stop.set)
        return await fixed_rate(send, [str(i) for i in range(300_000)], rate=10.0, stop=stop)

    asyncio.run(main())
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert len(started) >= 10 and min(gaps[:10]) > 0.05, gaps[:10]


def test_percentiles_pick_from_the_sorted_values():
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 51.0, "p95": 96.0, "p99": 100.0}
