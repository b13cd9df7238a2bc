"""Precision and recall of the ingestion-time injection flagging on a labelled set.

    .venv/bin/python bench/injection.py [bench/fixtures/injection.jsonl] [--errors]

Each line of the set is one passage: ``label`` (``injected`` or ``benign``: text that reads like
instructions to a person — runbooks, install guides, policies, recipes, safety notices, FAQ),
``split`` (``tune``: the half the rules were adjusted on; ``held_out``: not looked at while
tuning) and ``kind``. The passages are screened with ``ragstack.ingest.injection.screen``, the
function the worker runs on every chunk; the positive class is ``injected``. ``--errors`` lists
the passages of the tuning half it gets wrong (the held-out half's are never printed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ragstack.ingest.injection import screen

DEFAULT_SET = Path(__file__).resolve().parent / "fixtures" / "injection.jsonl"


def figures(rows: list[dict]) -> dict[str, float]:
    tp = sum(r["label"] == "injected" and r["flagged"] for r in rows)
    fp = sum(r["label"] == "benign" and r["flagged"] for r in rows)
    fn = sum(r["label"] == "injected" and not r["flagged"] for r in rows)
    tn = sum(r["label"] == "benign" and not r["flagged"] for r in rows)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--errors", action="store_true", help="list the tuning half's mistakes")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.dataset.read_text().splitlines() if line.strip()]
    started = time.perf_counter()
    for row in rows:
        screening = screen(row["text"])
        row["flagged"], row["score"], row["reasons"] = (
            screening.flagged,
            screening.score,
            screening.reasons,
        )
    took = time.perf_counter() - started
    print(f"{len(rows)} passages screened in {took * 1000:.1f} ms")
    print("| split | injected | benign | TP | FP | FN | TN | precision | recall | F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for split in ("tune", "held_out", "all"):
        part = [r for r in rows if split in ("all", r["split"])]
        f = figures(part)
        injected = sum(r["label"] == "injected" for r in part)
        print(
            f"| {split} | {injected} | {len(part) - injected} | {f['tp']} | {f['fp']} | {f['fn']}"
            f" | {f['tn']} | {f['precision']:.3f} | {f['recall']:.3f} | {f['f1']:.3f} |"
        )
    if args.errors:
        for row in rows:
            if row["split"] == "tune" and row["flagged"] != (row["label"] == "injected"):
                print(f"{row['id']} score {row['score']} {row['reasons']}: {row['text']!r}")


if __name__ == "__main__":
    main()
