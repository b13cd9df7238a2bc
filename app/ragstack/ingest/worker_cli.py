"""``ragstack-worker``: a console script that imports the worker only when it runs.

Each document is parsed in a child process started by multiprocessing, which imports the main
module (this script) again in every child. With the worker's imports at the top (ChromaDB's
client, onnxruntime, redis) a child took 0.8-1.8 s to start; with this module, ~10 ms.
"""

from __future__ import annotations


def main() -> None:
    from ragstack.ingest.worker import main as run

    run()
