#!/usr/bin/env python3
"""Checkpoint compatibility with the reference PyTorch models: loads a memwrap checkpoint into
the reference model with load_state_dict(strict=True), then saves that model's state_dict
again (float32 tensors; num_batches_tracked as int64, as PyTorch keeps it).

    /usr/bin/python3 tests/reference/roundtrip_checkpoint.py IN OUT --model mobilenetv2 \\
        --variant std [--in-channels 3]

tests/test_checkpoint.c runs it when PyTorch is importable, then loads OUT in memwrap and
checks that every tensor came back identical. Exit code 0 on success; a strict-load failure
(missing or unexpected keys, wrong shapes) is printed and exits 1.
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import encoders  # noqa: E402
from make_reference import load_safetensors, save_safetensors  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", required=True)
    p.add_argument("--variant", required=True)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    a = p.parse_args()
    model = encoders.build(a.model, a.variant, a.classes, a.in_channels)
    state = load_safetensors(a.input)
    # memwrap keeps num_batches_tracked as a [1] counter; PyTorch as a 0-d tensor
    ref = model.state_dict()
    for k, v in state.items():
        if k in ref and v.numel() == 1 and ref[k].dim() == 0:
            state[k] = v.reshape(())
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print(f"strict load of {a.input} failed: {e}", file=sys.stderr)
        return 1
    out = {k: (v if v.dtype == torch.int64 else v.float()) for k, v in model.state_dict().items()}
    save_safetensors(a.output, out, {"saved_by": f"pytorch {torch.__version__} load_state_dict"})
    print(f"{a.input}: {len(out)} tensors loaded strictly into {a.model}/{a.variant}, "
          f"saved to {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
