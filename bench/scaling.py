#!/usr/bin/env python3
"""A model of memwrap's data-parallel training step (`memwrap train --data-parallel`), and the
scaling it predicts from 1 to 64 processes (one device each).

Each of K processes encodes its B/K images of the batch and the whole memory set (the same
draw on every process), then the gradients are summed with one MPI_Allreduce. So

    T(K) = a + c * B / K + allreduce(S, K)

where a + c * b is one process's step on b images (a holds the memory set's encoding, which
every process repeats, and fixed costs), fitted from `memwrap bench` at two batch sizes; S is
the bytes summed per step (`allreduce_bytes` in `memwrap bench --json`); and a ring allreduce
moves 2 (K - 1) / K * S bytes per process in 2 (K - 1) messages:

    allreduce(S, K) = 2 (K - 1) / K * S / bandwidth + 2 (K - 1) * latency

Usage: bench/scaling.py [--memwrap build/memwrap] [--json FILE] [--from FILE] [--speedup X]
  --json FILE   also write the measurements as JSON
  --from FILE   use measurements written by --json instead of measuring again
  --speedup X   a device X times faster than the one measured (compute only; default 1)
Prints markdown tables (bench/RESULTS.md, "Data-parallel scaling")."""
import argparse
import json
import subprocess
import sys

MODELS = ["mobilenetv2", "resnet18", "efficientnet_b0"]
VARIANTS = ["std", "memory", "encoder_memory"]
BATCH, SMALL, MEMORY = 128, 32, 100

# Interconnects: nominal per-direction link rates from the standards and datasheets, and a
# typical small-message latency. What an allreduce achieves is lower than the link rate
# (NCCL's tests report their "bus bandwidth" against it); the model takes the nominal rate, so
# it is a bound. The latencies are orders of magnitude, not measurements.
LINKS = [
    # name, bytes/s, latency s
    ("10 GbE", 10e9 / 8, 30e-6),              # IEEE 802.3ae: 10 Gbit/s
    ("InfiniBand HDR", 200e9 / 8, 2e-6),      # 4x HDR: 200 Gbit/s
    ("PCIe 4.0 x16", 31.5e9, 5e-6),           # PCI-SIG: 16 GT/s x 16 lanes, 128b/130b
    ("NVLink 3 (A100)", 300e9, 5e-6),         # NVIDIA A100 datasheet: 600 GB/s both ways
]
PROCESSES = [1, 2, 4, 8, 16, 32, 64]


def bench(memwrap, model, variant, batch):
    cmd = [memwrap, "bench", "--model", model, "--variant", variant, "--batch", str(batch),
           "--memory", str(MEMORY), "--test-batch", "8", "--steps", "3", "--warmup", "1",
           "--no-profile", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def measure(memwrap):
    rows = []
    for model in MODELS:
        for variant in VARIANTS:
            big = bench(memwrap, model, variant, BATCH)
            small = bench(memwrap, model, variant, SMALL)
            rows.append({"model": model, "variant": variant,
                         "allreduce_bytes": big["allreduce_bytes"],
                         "step_ms": {str(BATCH): big["train"]["median_ms"],
                                     str(SMALL): small["train"]["median_ms"]},
                         "device": big["device"]})
            print(f"measured {model} {variant}: {big['train']['median_ms']:.0f} ms at "
                  f"{BATCH}, {small['train']['median_ms']:.0f} ms at {SMALL}", file=sys.stderr)
    return rows


def fit(row, speedup):
    """a + c * b through the two measured points, in seconds, on a device `speedup` times
    faster."""
    t_big = row["step_ms"][str(BATCH)] / 1e3 / speedup
    t_small = row["step_ms"][str(SMALL)] / 1e3 / speedup
    c = (t_big - t_small) / (BATCH - SMALL)
    a = t_big - c * BATCH
    return max(a, 0.0), c


def step_time(a, c, k, size, link):
    _, bandwidth, latency = link
    comm = 0.0 if k == 1 else 2 * (k - 1) / k * size / bandwidth + 2 * (k - 1) * latency
    return a + c * BATCH / k + comm


def tables(rows, speedup):
    head = "| model | variant | MB summed | step at 1 (s) | " + " | ".join(
        f"{k}" for k in PROCESSES) + " |"
    rule = "|---|---|---|---|" + "---|" * len(PROCESSES)
    out = []
    for link in LINKS:
        out.append(f"\nSpeed-up over one process, batch {BATCH} split over K processes, "
                   f"{link[0]}:\n")
        out.append(head)
        out.append(rule)
        for row in rows:
            a, c = fit(row, speedup)
            one = step_time(a, c, 1, row["allreduce_bytes"], link)
            cells = [f"{one / step_time(a, c, k, row['allreduce_bytes'], link):.1f}"
                     for k in PROCESSES]
            out.append(f"| {row['model']} | {row['variant']} | "
                       f"{row['allreduce_bytes'] / 1e6:.1f} | {one:.3g} | " +
                       " | ".join(cells) + " |")
    out.append("\nThe limit as K grows, (a + c B) / a: the memory set every process encodes "
               "(and fixed costs) against the batch's share:\n")
    out.append("| model | variant | a (s) | c B (s) | limit |")
    out.append("|---|---|---|---|---|")
    for row in rows:
        a, c = fit(row, speedup)
        limit = (a + c * BATCH) / a if a > 0 else float("inf")
        out.append(f"| {row['model']} | {row['variant']} | {a:.3g} | {c * BATCH:.3g} | "
                   f"{limit:.1f} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--memwrap", default="build/memwrap")
    p.add_argument("--json")
    p.add_argument("--from", dest="source")
    p.add_argument("--speedup", type=float, default=1.0)
    args = p.parse_args()
    if args.source:
        with open(args.source) as f:
            rows = json.load(f)
    else:
        rows = measure(args.memwrap)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(f"Device: {rows[0]['device']}; compute {args.speedup:g}x the measured step.")
    print(tables(rows, args.speedup))


if __name__ == "__main__":
    main()
