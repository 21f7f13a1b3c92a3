#!/usr/bin/env python3
"""The float32 error of Winograd's F(4x4, 3x3) for a choice of interpolation points: the
evidence for cl/winograd4.cl's points 0, 1, -1, 1/2, -2 (bench/RESULTS.md, "F(4x4)'s
points").

For each point set it builds the Toom-Cook matrices (Aᵀ from the points' powers, G from the
Lagrange denominators, Bᵀ from the quotients of M(x) = Π (x - p) by each (x - p); the point
at infinity last), checks them on the convolution identity in float64, then runs one 6x6
tile summed over CHANNELS channels in float32 (transforms, products, channel sum, inverse
transform) against the float64 direct sum and prints the mean and largest relative error
(to the tile's largest output) over DRAWS random draws. --positive draws the input from
|N(0, 1)|, as maps after a ReLU.

Usage: /usr/bin/python3 bench/winograd_points.py [--channels 64] [--draws 300] [--positive]
(needs numpy).
"""
import argparse
from fractions import Fraction

import numpy as np

SETS = {
    "0, 1, -1, 2, -2 (Lavin and Gray)": [0, 1, -1, 2, -2],
    "0, 1, -1, 1/2, -1/2": [0, 1, -1, Fraction(1, 2), Fraction(-1, 2)],
    "0, 1, -1, 1/2, -2": [0, 1, -1, Fraction(1, 2), -2],
    "0, 1, -1, 2, -1/2": [0, 1, -1, 2, Fraction(-1, 2)],
}
M_OUT, R = 4, 3  # F(4, 3): 4 outputs of a 3-tap filter from 6 inputs


def toom_cook(points):
    """Bᵀ (6 x 6), G (6 x 3) and Aᵀ (4 x 6) for five finite points and infinity."""
    p = [Fraction(x) for x in points]
    n = len(p) + 1
    at, g, bt = np.zeros((M_OUT, n)), np.zeros((n, R)), np.zeros((n, n))
    for j, pj in enumerate(p):
        for k in range(M_OUT):
            at[k, j] = float(pj**k)
        denom = Fraction(1)
        for l, pl in enumerate(p):
            if l != j:
                denom *= pj - pl
        for i in range(R):
            g[j, i] = float(pj**i / denom)
    at[M_OUT - 1, n - 1] = 1
    g[n - 1, R - 1] = 1
    poly = [Fraction(1)]  # M(x), coefficients from the constant up
    for pj in p:
        poly = [(poly[i - 1] if i else 0) - pj * (poly[i] if i < len(poly) else 0)
                for i in range(len(poly) + 1)]
    for j, pj in enumerate(p):  # M(x) / (x - pj) by synthetic division, highest first
        quotient, acc = [], Fraction(0)
        for c in poly[::-1][:-1]:
            acc = acc * pj + c
            quotient.append(acc)
        for i, c in enumerate(quotient[::-1]):
            bt[j, i] = float(c)
    for i, c in enumerate(poly):
        bt[n - 1, i] = float(c)
    return bt, g, at


def winograd_tile(bt, g, at, d, w):
    """One 4x4 output tile in float32: d [C, 6, 6] inputs, w [C, 3, 3] filters."""
    f = np.float32
    u = np.einsum("ij,cjk,lk->cil", g.astype(f), w.astype(f), g.astype(f)).astype(f)
    v = np.einsum("ij,cjk,lk->cil", bt.astype(f), d.astype(f), bt.astype(f)).astype(f)
    m = (u * v).astype(f).sum(0, dtype=f)
    return at.astype(f) @ m @ at.T.astype(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--positive", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(a.draws):
        d = rng.standard_normal((a.channels, 6, 6))
        draws.append((np.abs(d) if a.positive else d, rng.standard_normal((a.channels, 3, 3))))
    for name, points in SETS.items():
        bt, g, at = toom_cook(points)
        d, w = rng.standard_normal(6), rng.standard_normal(3)
        y = at @ ((g @ w) * (bt @ d))
        assert np.allclose(y, [w @ d[k:k + 3] for k in range(M_OUT)]), name
        errors = []
        for d, w in draws:
            ref = np.array([[np.sum(w * d[:, y:y + 3, x:x + 3]) for x in range(4)]
                            for y in range(4)])
            errors.append(np.abs(winograd_tile(bt, g, at, d, w) - ref).max() /
                          np.abs(ref).max())
        print(f"{name}: mean relative error {np.mean(errors):.2e}, largest {np.max(errors):.2e}")


if __name__ == "__main__":
    main()
