#!/usr/bin/env python3
"""Where does Memory Wrap pay? For each model and training-set size of a memwrap results.json,
the mean test accuracy of Std, Only Memory and Memory Wrap, and each memory variant's gain
over Std with Welch's t test and the permutation test of bench/accuracy_test.py (issue 13
item 4, second question). A markdown table on stdout; cells with fewer than two runs of
either variant show the means only. Standard library only.

    python3 bench/variant_gain.py bench/fmnist-where-memory-pays/results.json
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from accuracy_test import permutation_p, welch  # noqa: E402

VARIANTS = (("memory", "Only Memory"), ("encoder_memory", "Memory Wrap"))


def cells(rows):
    """{(model, size): {variant: [accuracies]}}."""
    out = {}
    for r in rows:
        key = (r["model"], int(r["train_examples"]))
        out.setdefault(key, {}).setdefault(r["variant"], []).append(r["accuracy"])
    return out


def mean_cell(runs):
    if not runs:
        return "—"
    sd = f" ± {statistics.stdev(runs):.2f}" if len(runs) > 1 else ""
    return f"{statistics.mean(runs):.2f}{sd} ({len(runs)})"


def gain_cell(variant_runs, std_runs):
    if not variant_runs or not std_runs:
        return "—"
    diff = statistics.mean(variant_runs) - statistics.mean(std_runs)
    if len(variant_runs) < 2 or len(std_runs) < 2:
        return f"{diff:+.2f}"
    _, _, p = welch(variant_runs, std_runs)
    return f"{diff:+.2f} (p {p:.3f}, perm. {permutation_p(variant_runs, std_runs):.3f})"


def table(rows):
    lines = ["| model | images | Std | Only Memory | Memory Wrap | Only Memory − Std | "
             "Memory Wrap − Std |", "|---|---|---|---|---|---|---|"]
    for (model, size), runs in sorted(cells(rows).items(), key=lambda kv: kv[0]):
        std = runs.get("std", [])
        lines.append(f"| {model} | {size} | {mean_cell(std)} | "
                     + " | ".join(mean_cell(runs.get(v, [])) for v, _ in VARIANTS) + " | "
                     + " | ".join(gain_cell(runs.get(v, []), std) for v, _ in VARIANTS) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="results.json of memwrap train")
    args = ap.parse_args()
    with open(args.results) as f:
        rows = json.load(f)["runs"]
    if not rows:
        print(f"{args.results}: no finished runs yet", file=sys.stderr)
        return 1
    print("Mean test accuracy (%) ± sample standard deviation (runs); gains in points, Welch's "
          "two-sided p and the permutation test's.\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
