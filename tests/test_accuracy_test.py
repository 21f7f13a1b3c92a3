#!/usr/bin/env python3
"""Tests bench/accuracy_test.py, the two-sample and paired tests behind bench/RESULTS.md's
answer to "the same accuracy as PyTorch?", on cases whose answers are worked out by hand:
Student's t tail in the closed forms for 1 and 2 degrees of freedom, Welch's statistic on
equal variances, the permutation and sign-flip tests by counting, and the paired mode end to
end on results files written to a temporary directory; and bench/variant_gain.py's table of
the memory variants' gains over Std ("where does Memory Wrap pay?"). Standard library only.
"""
import io
import json
import math
import os
import sys
import tempfile
from contextlib import redirect_stdout

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import accuracy_test as at  # noqa: E402
import variant_gain as vg  # noqa: E402

failures = []


def check(name, got, want, tol=1e-9):
    if abs(got - want) > tol:
        failures.append(f"{name}: got {got!r}, want {want!r}")


# Student's t, two-sided tails: df 1 is Cauchy, P = 1 - (2/pi) atan|t|; df 2 has
# P = 1 - |t| / sqrt(2 + t^2).
for t in (0.3, 1.0, 2.5, -4.0):
    check(f"t tail df=1 t={t}", at.t_two_sided_p(t, 1), 1 - 2 / math.pi * math.atan(abs(t)))
    check(f"t tail df=2 t={t}", at.t_two_sided_p(t, 2), 1 - abs(t) / math.sqrt(2 + t * t))
check("t tail at zero", at.t_two_sided_p(0.0, 7), 1.0)

# Welch on a = [0, 2], b = [3, 5]: means 1 and 4, variances 2 and 2, so t = -3 / sqrt(2)
# with (1 + 1)^2 / (1 + 1) = 2 degrees of freedom.
t, df, p = at.welch([0.0, 2.0], [3.0, 5.0])
check("welch t", t, -3 / math.sqrt(2))
check("welch df", df, 2.0)
check("welch p", p, 1 - (3 / math.sqrt(2)) / math.sqrt(2 + 4.5))

# Permutation of [1, 2] against [3, 4]: of the 6 splits only {1, 2} and {3, 4} reach the
# observed gap of 2.
check("permutation p", at.permutation_p([1.0, 2.0], [3.0, 4.0]), 2 / 6)

# Sign flips of [2, -1, 1] (sum 2): the sums over the 8 flips are 4, 2, 2, 0, 0, -2, -2, -4,
# six of which are at least 2 away from zero. All-positive [1, 1, 1]: only the two extremes.
check("sign flip mixed", at.sign_flip_p([2.0, -1.0, 1.0]), 6 / 8)
check("sign flip one-sided", at.sign_flip_p([1.0, 1.0, 1.0]), 2 / 8)


def rows(accuracies, variant="encoder_memory", size=1000, seed0=100):
    return {"runs": [{"variant": variant, "train_examples": size, "run": r, "seed": seed0 + r,
                      "accuracy": a} for r, a in enumerate(accuracies)]}


with tempfile.TemporaryDirectory() as tmp:
    after, before, other = (os.path.join(tmp, n) for n in ("after.json", "before.json",
                                                           "other.json"))
    # Differences 1, 2, 3: mean 2, sample sd 1, paired t = 2 / (1 / sqrt 3) on 2 df.
    json.dump(rows([81.0, 80.0, 83.0]), open(after, "w"))
    before_rows = rows([80.0, 78.0, 80.0])
    before_rows["runs"].append({"variant": "encoder_memory", "train_examples": 500, "run": 0,
                                "seed": 100, "accuracy": 10.0})  # another size: not paired
    json.dump(before_rows, open(before, "w"))
    json.dump(rows([80.0, 78.0, 80.0], seed0=200), open(other, "w"))  # other seeds

    out = io.StringIO()
    with redirect_stdout(out):
        rc = at.paired(after, before, 1000)
    line = out.getvalue().strip().splitlines()[-1]
    t = 2 / (1 / math.sqrt(3))
    want = (f"| encoder_memory | 3 | 81.33 | 79.33 | +2.00 ± 1.00 | +{t:.2f} (2) | "
            f"{1 - t / math.sqrt(2 + t * t):.3f} | {2 / 8:.3f} |")
    if rc != 0 or line != want:
        failures.append(f"paired: rc {rc}, row\n  {line}\nwanted\n  {want}")

    err = io.StringIO()
    with redirect_stdout(io.StringIO()):
        old_err, sys.stderr = sys.stderr, err
        try:
            rc = at.paired(after, other, 1000)
        finally:
            sys.stderr = old_err
    if rc == 0 or "same variant, run and seed" not in err.getvalue():
        failures.append(f"paired without common seeds: rc {rc}, stderr {err.getvalue()!r}")

# variant_gain: Std [1, 3] against Only Memory [4, 6] is the Welch case above shifted (gain
# +3, t = 3 / sqrt 2 on 2 df, permutation 2 of 6); Memory Wrap has one run (a gain, no test)
# at 250 images; a size without Std shows means only.
gain_rows = [{"model": "m", "train_examples": 250, "variant": v, "accuracy": a}
             for v, a in (("std", 1.0), ("memory", 4.0), ("std", 3.0), ("memory", 6.0),
                          ("encoder_memory", 5.0))]
gain_rows.append({"model": "m", "train_examples": 100, "variant": "memory", "accuracy": 7.0})
t = 3 / math.sqrt(2)
want_rows = [
    "| m | 100 | — | 7.00 (1) | — | — | — |",
    f"| m | 250 | 2.00 ± 1.41 (2) | 5.00 ± 1.41 (2) | 5.00 (1) | "
    f"+3.00 (p {1 - t / math.sqrt(2 + t * t):.3f}, perm. {2 / 6:.3f}) | +3.00 |",
]
got_rows = vg.table(gain_rows).splitlines()[2:]
if got_rows != want_rows:
    failures.append("variant_gain table:\n  " + "\n  ".join(got_rows) + "\nwanted\n  "
                    + "\n  ".join(want_rows))

for f in failures:
    print("FAIL", f)
print(f"{'FAILED' if failures else 'passed'}: accuracy_test.py and variant_gain.py checks")
sys.exit(1 if failures else 0)
