#!/usr/bin/env python3
"""memwrap against PyTorch on this machine: `memwrap bench --json` and bench/torch_bench.py
run one after the other, alternating, ROUNDS times per model and variant (this machine drifts
by up to 40% between two runs of one command, so only ratios taken side by side mean
anything), and the medians printed as a markdown table with the ratios.

PyTorch runs with NCHW and, with --channels-last, also with channels_last; its faster layout
per row is the one compared.

Usage:
    /usr/bin/python3 bench/compare.py --models googlenet,densenet_cifar \\
        --variants std,encoder_memory [--rounds 3] [--steps 3] [--batch 128] [--memory 100]
        [--test-batch 500] [--channels-last] [--memwrap build/memwrap]
        [--device SPEC] [--torch-device cuda] [--no-torch] [--out TABLE.md] [--keep-going]
(--device is memwrap's device, --torch-device PyTorch's; --no-torch times memwrap alone, as
bench/gpu.sh does where PyTorch has no CUDA. The table file is rewritten after each row, so
a run stopped early keeps the rows it finished; --keep-going marks a row whose program failed
and goes on to the next, where by default the first failure stops the script.)
Set OPENBLAS_CORETYPE=SkylakeX where Debian's OpenBLAS misdetects the CPU
(../shared/platform-facts.md); the script passes its environment on.

Both programs run with tcmalloc preloaded (--malloc, default: tcmalloc where installed,
`apt-get install libtcmalloc-minimal4`). With glibc's malloc each of PyTorch's activations
above 32 MB is a fresh mmap, so every step faults its pages in again: on a 2-core Intel host
PyTorch's MobileNetV2 Memory Wrap step spent as much time in the kernel as in its own code
and ran at 29-40 images/s against 62-68 with tcmalloc, by how much depending on the sitting
(bench/RESULTS.md, "PyTorch's allocator"). Intel's launcher for PyTorch on CPUs preloads
tcmalloc by default for this reason (intel-extension-for-pytorch,
docs/tutorials/performance_tuning/launch_script.md); jemalloc with its default settings was
slower than glibc here.
"""
import argparse
import ctypes.util
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class RunFailed(Exception):
    pass


def malloc_env(choice):
    """The environment both programs run in, and the allocator's name for the table."""
    env = dict(os.environ)
    if choice == "glibc":
        return env, "glibc malloc"
    lib = ctypes.util.find_library("tcmalloc_minimal") or ctypes.util.find_library("tcmalloc")
    if lib is None:
        if choice == "tcmalloc":
            sys.exit("compare: --malloc tcmalloc, but no libtcmalloc is installed "
                     "(apt-get install libtcmalloc-minimal4)")
        print("compare: warning: no libtcmalloc installed (apt-get install "
              "libtcmalloc-minimal4); PyTorch runs on glibc's malloc, whose page faults "
              "cost it up to half its CPU speed (bench/RESULTS.md, \"PyTorch's allocator\")",
              file=sys.stderr)
        return env, "glibc malloc"
    env["LD_PRELOAD"] = " ".join(filter(None, [lib, env.get("LD_PRELOAD", "")]))
    return env, lib


def run_json(cmd, env):
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RunFailed(f"compare: {' '.join(cmd)} failed ({out.returncode}):\n"
                        f"{out.stderr[-2000:]}")
    for line in out.stderr.splitlines():  # e.g. torch_bench's slow-BLAS warning
        if ": warning:" in line:
            print(line, file=sys.stderr)
    return json.loads(out.stdout)


def sizes(a):
    return ["--batch", str(a.batch), "--memory", str(a.memory), "--test-batch",
            str(a.test_batch), "--steps", str(a.steps), "--warmup", str(a.warmup),
            "--channels", str(a.channels), "--image-size", str(a.image_size)]


def measure(a, model, variant):
    """Per program: lists of train and inference images/s, one entry per round."""
    got = {"memwrap": ([], []), "torch": ([], [])}
    common = ["--model", model, "--variant", variant] + sizes(a)
    device = ["--device", a.device] if a.device else []
    for r in range(a.rounds):
        m = run_json([a.memwrap, "bench", "--json", "--no-profile"] + device + common, a.env)
        got["memwrap"][0].append(m["train"]["images_per_s"])
        got["memwrap"][1].append(m["inference"]["images_per_s"])
        if a.no_torch:
            print(f"  {model} {variant} round {r + 1}/{a.rounds}: memwrap train "
                  f"{got['memwrap'][0][-1]:.1f} infer {got['memwrap'][1][-1]:.1f} images/s",
                  file=sys.stderr, flush=True)
            continue
        layouts = [[], ["--channels-last"]] if a.channels_last else [[]]
        best = None
        for layout in layouts:
            t = run_json([sys.executable, os.path.join(HERE, "torch_bench.py"), "--device",
                          a.torch_device] + common + layout, a.env)
            score = (t["train"]["images_per_s"], t["inference"]["images_per_s"])
            best = score if best is None else (max(best[0], score[0]), max(best[1], score[1]))
        got["torch"][0].append(best[0])
        got["torch"][1].append(best[1])
        print(f"  {model} {variant} round {r + 1}/{a.rounds}: memwrap train "
              f"{got['memwrap'][0][-1]:.1f} infer {got['memwrap'][1][-1]:.1f}; torch train "
              f"{best[0]:.1f} infer {best[1]:.1f} images/s", file=sys.stderr, flush=True)
    return got


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mobilenetv2,resnet18,efficientnet_b0")
    p.add_argument("--variants", default="std,encoder_memory")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--memory", type=int, default=100)
    p.add_argument("--test-batch", type=int, default=500)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--memwrap", default=os.path.join(ROOT, "build", "memwrap"))
    p.add_argument("--device", default="", help="memwrap's --device (default: its own choice)")
    p.add_argument("--torch-device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-torch", action="store_true", help="memwrap alone")
    p.add_argument("--out", default="", help="also write the table to this file")
    p.add_argument("--keep-going", action="store_true",
                   help="mark a row whose program failed and go on")
    p.add_argument("--malloc", choices=["auto", "tcmalloc", "glibc"], default="auto",
                   help="allocator preloaded into both programs (auto: tcmalloc if installed)")
    a = p.parse_args()
    a.env, a.malloc_name = malloc_env(a.malloc)
    rows = []
    for model in a.models.split(","):
        for variant in a.variants.split(","):
            try:
                got = measure(a, model, variant)
            except RunFailed as e:
                if not a.keep_going:
                    sys.exit(str(e))
                print(e, file=sys.stderr, flush=True)
                rows.append((model, variant, None))
            else:
                rows.append((model, variant, {k: (statistics.median(v[0]),
                                                  statistics.median(v[1]))
                                              for k, v in got.items() if v[0]}))
            if a.out:
                with open(a.out, "w") as f:
                    f.write(table(a, rows) + "\n")
    print(table(a, rows))


def host_cpu():
    """The host's CPU as /proc/cpuinfo names it, with family and model: this pool's machines
    share one model name ("AMD EPYC") across generations whose FMA peaks differ twofold
    (bench/RESULTS.md, "A Zen 4 host"), so a table says which one it ran on."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return "CPU unknown (no /proc/cpuinfo)"
    return (f"{fields.get('model name', '?')}, family {fields.get('cpu family', '?')} "
            f"model {fields.get('model', '?')}, {os.cpu_count()} logical CPUs")


def table(a, rows):
    lines = [f"batch {a.batch}, memory {a.memory}, test batch {a.test_batch}, "
             f"{a.channels}x{a.image_size}x{a.image_size}, {a.steps} timed steps, medians of "
             f"{a.rounds} {'' if a.no_torch else 'alternating '}rounds, images/s; allocator: "
             f"{a.malloc_name}; host: {host_cpu()}", ""]
    if a.no_torch:
        lines += ["| model | variant | memwrap train | memwrap infer |", "|---|---|---|---|"]
    else:
        lines += ["| model | variant | memwrap train | PyTorch train | ratio | memwrap infer | "
                  "PyTorch infer | ratio |", "|---|---|---|---|---|---|---|---|"]
    for model, variant, med in rows:
        if med is None:
            cells = 2 if a.no_torch else 6
            lines.append(f"| {model} | {variant} | failed (log) |" + " |" * (cells - 1))
            continue
        (mt, mi) = med["memwrap"]
        if a.no_torch:
            lines.append(f"| {model} | {variant} | {mt:.1f} | {mi:.1f} |")
            continue
        (tt, ti) = med["torch"]
        lines.append(f"| {model} | {variant} | {mt:.1f} | {tt:.1f} | {mt / tt:.2f} | {mi:.1f} | "
                     f"{ti:.1f} | {mi / ti:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
