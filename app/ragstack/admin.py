"""Operator commands, with the service's own settings (its environment file):

ragstack-admin reconcile     run the reconciler once on this host and print its report (JSON)
ragstack-admin queue         the ingestion queues: depth, in progress, oldest age, dead letters
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ragstack.config import load_settings
from ragstack.ingest.queue import IngestQueue
from ragstack.ingest.worker import build_worker
from ragstack.stores import connect_redis


async def _reconcile() -> dict[str, object]:
    settings = load_settings()
    redis = connect_redis(settings)
    try:
        report = await build_worker(settings, redis).reconciler.run()
    finally:
        await redis.aclose()
    return report.as_dict()


async def _queue() -> dict[str, object]:
    settings = load_settings()
    redis = connect_redis(settings)
    try:
        queue = IngestQueue(redis, settings.redis_prefix, settings.node_name)
        nodes = await queue.known_nodes()
        stats = {node: await queue.stats(node) for node in set(nodes) | {queue.node}}
        return {
            "nodes": {
                node: {
                    "depth": s.depth,
                    "in_progress": s.pending,
                    "oldest_age_seconds": round(s.oldest_age_seconds, 1),
                    "workers_last_seen": nodes.get(node),
                }
                for node, s in sorted(stats.items())
            },
            "dead_letters": await queue.dead_letter_count(),
        }
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ragstack-admin", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reconcile", help="fix what crashes left behind, print the report")
    commands.add_parser("queue", help="show the ingestion queues")
    args = parser.parse_args(argv)
    run = {"reconcile": _reconcile, "queue": _queue}[args.command]
    print(json.dumps(asyncio.run(run()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
