#!/usr/bin/env python3
"""Is memwrap's test accuracy the same as PyTorch's? A two-sample comparison per variant of
the runs recorded by `memwrap train` (results.json) and by bench/torch_protocol.py
(torch_results.json) for one training-set size (issue 13 item 4).

For each variant: the runs of each engine, their means and sample standard deviations, the
difference of means with Welch's t test (unequal variances, Welch-Satterthwaite degrees of
freedom, two-sided p from Student's t distribution) and a permutation test of the difference
of means (every split of the pooled runs when there are at most 200000, else 200000 random
ones), which assumes nothing about the accuracies' distribution. Standard library only.

    python3 bench/accuracy_test.py bench/fmnist-evidence-1000-full/results.json \\
        bench/fmnist-evidence-1000-full/torch_results.json --size 1000

With --paired the second file is another memwrap results.json whose runs used the same seeds
(the same config, an engine changed between them): the runs are paired by variant, run and
seed, and tested with the paired t test (n - 1 degrees of freedom) and an exact sign-flip
permutation test of the mean difference.

    python3 bench/accuracy_test.py bench/fmnist-evidence-1000-bnexact/results.json \\
        bench/fmnist-evidence-1000-full/results.json --size 1000 --paired
"""
import argparse
import itertools
import json
import math
import random
import statistics
import sys


def betacf(a, b, x):
    """The continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a, b, x):
    """I_x(a, b), regularised."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) +
                     b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * betacf(a, b, x) / a
    return 1.0 - front * betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t, df):
    """P(|T| >= |t|) for Student's t with df degrees of freedom."""
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def welch(a, b):
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    t = (statistics.mean(a) - statistics.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return t, df, t_two_sided_p(t, df)


def permutation_p(a, b, limit=200000, seed=0):
    """Two-sided: how often a split of the pooled values differs in mean at least as much."""
    pooled, n, total = a + b, len(a), sum(a) + sum(b)
    observed = abs(statistics.mean(a) - statistics.mean(b))
    m = len(pooled) - n

    def gap(first_sum):
        return abs(first_sum / n - (total - first_sum) / m)

    if math.comb(len(pooled), n) <= limit:
        splits = (sum(c) for c in itertools.combinations(pooled, n))
        count = hits = 0
        for s in splits:
            count += 1
            hits += gap(s) >= observed - 1e-12
        return hits / count
    rng = random.Random(seed)
    hits = 0
    for _ in range(limit):
        rng.shuffle(pooled)
        hits += gap(sum(pooled[:n])) >= observed - 1e-12
    return (hits + 1) / (limit + 1)


def sign_flip_p(d):
    """Two-sided: how often flipping the signs of the differences gives a mean at least as far
    from zero (every one of the 2^n flips)."""
    observed = abs(sum(d))
    hits = sum(abs(sum(x if bit else -x for x, bit in zip(d, signs))) >= observed - 1e-12
               for signs in itertools.product((0, 1), repeat=len(d)))
    return hits / 2 ** len(d)


def memwrap_rows(path, size):
    with open(path) as f:
        rows = json.load(f)["runs"]
    return [r for r in rows if r["train_examples"] == size]


def memwrap_runs(path, size):
    out = {}
    for r in memwrap_rows(path, size):
        out.setdefault(r["variant"], []).append(r["accuracy"])
    return out


def paired(after_path, before_path, size):
    before = {(r["variant"], r["run"], r["seed"]): r["accuracy"]
              for r in memwrap_rows(before_path, size)}
    pairs = {}
    for r in memwrap_rows(after_path, size):
        key = (r["variant"], r["run"], r["seed"])
        if key in before:
            pairs.setdefault(r["variant"], []).append((r["accuracy"], before[key]))
    print("| variant | pairs | after | before | mean difference | paired t (df) | p | "
          "sign-flip p |")
    print("|---|---|---|---|---|---|---|---|")
    for variant, ab in sorted(pairs.items()):
        if len(ab) < 2:
            print(f"| {variant} | {len(ab)} | too few pairs | | | | | |")
            continue
        a, b = [x for x, _ in ab], [y for _, y in ab]
        d = [x - y for x, y in ab]
        sd = statistics.stdev(d)
        t = statistics.mean(d) / (sd / math.sqrt(len(d))) if sd > 0 else math.inf
        print(f"| {variant} | {len(d)} | {statistics.mean(a):.2f} | {statistics.mean(b):.2f} | "
              f"{statistics.mean(d):+.2f} ± {sd:.2f} | {t:+.2f} ({len(d) - 1}) | "
              f"{t_two_sided_p(t, len(d) - 1):.3f} | {sign_flip_p(d):.3f} |")
    if not pairs:
        print(f"no runs of the same variant, run and seed at {size} images in both files",
              file=sys.stderr)
        return 1
    return 0


def torch_runs(path, size):
    with open(path) as f:
        rows = json.load(f)["results"]
    out = {}
    for r in rows:
        if int(r["train_examples"]) == size:
            out.setdefault(r["variant"], []).append(r["accuracy"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("memwrap", help="results.json of memwrap train")
    ap.add_argument("torch", help="the JSON of bench/torch_protocol.py --out (with --paired: "
                    "an earlier memwrap results.json of the same seeds)")
    ap.add_argument("--size", type=int, required=True, help="training-set size to compare")
    ap.add_argument("--paired", action="store_true",
                    help="compare two memwrap results run by run on the same seeds")
    args = ap.parse_args()
    if args.paired:
        return paired(args.memwrap, args.torch, args.size)
    mw, pt = memwrap_runs(args.memwrap, args.size), torch_runs(args.torch, args.size)
    print("| variant | memwrap (n) | PyTorch (n) | difference | Welch t (df) | p | "
          "permutation p |")
    print("|---|---|---|---|---|---|---|")
    for variant in sorted(set(mw) & set(pt)):
        a, b = mw[variant], pt[variant]
        if len(a) < 2 or len(b) < 2:
            print(f"| {variant} | {len(a)} runs | {len(b)} runs | too few runs | | | |")
            continue
        t, df, p = welch(a, b)
        print(f"| {variant} | {statistics.mean(a):.2f} ± {statistics.stdev(a):.2f} ({len(a)}) | "
              f"{statistics.mean(b):.2f} ± {statistics.stdev(b):.2f} ({len(b)}) | "
              f"{statistics.mean(a) - statistics.mean(b):+.2f} | {t:+.2f} ({df:.1f}) | {p:.3f} | "
              f"{permutation_p(a, b):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
