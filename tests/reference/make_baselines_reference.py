#!/usr/bin/env python3
"""Regenerates the reference vectors of the paper's memory-based baselines (reference-spec
6.7), built as memory-wrap's paper/scripts/run_protonet.py and run_matching.py build them:

* tests/reference/data/encoder_<encoder>_protonet.safetensors, Prototypical Networks: the
  std network with its linear layer replaced by an identity, the prototypes the mean support
  encoding of each class, log p = log_softmax(-cosine_distance(e, prototypes)), NLLLoss.
* tests/reference/data/encoder_mobilenetv2_matching.safetensors, Matching Networks with
  full-context embeddings: the same encoder; g = BiLSTM(support) + support; f = the
  attention LSTM over g (two unrolling steps); y = softmax(-cosine_distance(f, g)) times the
  support's one-hot labels (10 classes, as the reference's one_hot(y, 10)), the loss
  CrossEntropyLoss(log(clamp(y, 1e-6, 1 - 1e-6)), labels). The state_dict's "encoder."
  prefix is dropped from the stored names (memwrap names the encoder's tensors as its own);
  the LSTMs' tensors are hashed with (a, b) = (-s, 2s), s = 1/sqrt(d), stored as
  init.<name>.ab.

Same conventions as make_encoder_reference.py, whose helpers it uses: hashed weights and
inputs (tests/hashed_init.c reproduces them), float64 computation, eval logits from the
initial state, then one SGD step in train mode with the fingerprints of every state_dict
entry after it and the float32 run's deviation from the oracle (`noise.*`).

B = 4 inputs, M = 6 support images of 3 classes (labels SUPPORT_LABELS), 3x32x32.

Usage: /usr/bin/python3 tests/reference/make_baselines_reference.py [--out DIR]
"""
import argparse
import copy
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import encoders  # noqa: E402
import make_encoder_reference as ref  # noqa: E402
from make_reference import describe, save_safetensors, versions  # noqa: E402

ENCODERS = ("mobilenetv2", "resnet18")
CLASSES = 3
SUPPORT_LABELS = [2, 0, 1, 1, 0, 2]  # M = 6: every class twice, out of order
LABELS = [2, 1, 0, 1]
EPSILON = 1e-6  # memory-wrap's paper/utils/utils.py _EPSILON, inside the norms' root


def cosine_distance(a, b):
    """utils.vector_distance(a, b, 'cosine'): 1 - â b̂ᵀ with â = a / sqrt(Σa² + ε)."""
    an = a / torch.sqrt((a * a).sum(1, keepdim=True) + EPSILON)
    bn = b / torch.sqrt((b * b).sum(1, keepdim=True) + EPSILON)
    return 1 - an @ bn.t()


def protonet_logits(model, x, support, support_labels):
    """run_protonet.py's forward: both sets through the encoder (two calls, as the
    reference), support sorted by label, the per-class means as prototypes, -distance."""
    e = model(x)
    s = model(support)
    labels, order = torch.sort(support_labels, stable=True)
    s = s[order]
    prototypes = torch.stack([s[labels == c].mean(0) for c in range(CLASSES)])
    return -cosine_distance(e, prototypes), e, s


def train_step(model, x, support, support_labels, y):
    model.train()
    opt = torch.optim.SGD(model.parameters(), **ref.SGD)
    opt.zero_grad()
    logits, _, _ = protonet_logits(model, x, support, support_labels)
    loss = torch.nn.NLLLoss()(logits.log_softmax(dim=1), y)
    loss.backward()
    opt.step()
    return loss, logits, {k: v.detach().double() for k, v in model.state_dict().items()}


def record_step(t, model, f32, loss, logits, y, support_labels, name=lambda k: k):
    """The step's results, and how far float32 PyTorch (f32: its loss, logits, state) lands
    from them; state_dict keys stored as name(key)."""
    t["noise.train.loss"] = ref.relative_deviation(f32[0], loss)
    t["noise.train.logits"] = ref.relative_deviation(f32[1], logits)
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            t["noise.after." + name(k)] = ref.relative_deviation(f32[2][k], v)
    t["train.labels"] = y
    t["support.labels"] = support_labels
    t["train.loss"] = loss.detach().reshape(1)
    t["train.logits"] = logits.detach()
    for k, v in model.state_dict().items():
        if k.endswith(".num_batches_tracked"):
            t["after." + name(k)] = v.detach().reshape(1).to(torch.int64)
        else:
            ref.fingerprint(t, "after." + name(k), v)


def case(outdir, enc):
    torch.manual_seed(0)
    model = encoders.build(enc, "std", 10, 3).double()
    model.linear = torch.nn.Identity()  # as run_protonet.py: the encoder alone
    n_params = encoders.count_params(model)
    ref.hashed_init_(model)
    x = ref.hashed_input("input", (ref.B, 3, 32, 32))
    support = ref.hashed_input("memory", (ref.M, 3, 32, 32))
    support_labels = torch.tensor(SUPPORT_LABELS, dtype=torch.int64)
    t = {}
    ranges = ref.calibrate_running_stats(model, torch.cat([x, support]))
    for k, ab in ranges.items():
        t["init." + k + ".ab"] = torch.tensor(ab, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        logits, e, s = protonet_logits(model, x, support, support_labels)
    t["eval.logits"] = logits
    ref.fingerprint(t, "eval.encoding", e)

    y = torch.tensor(LABELS, dtype=torch.int64)
    f32 = train_step(copy.deepcopy(model).float(), x.float(), support.float(), support_labels, y)
    loss, logits, _ = train_step(model, x, support, support_labels, y)
    record_step(t, model, f32, loss, logits, y, support_labels)
    meta = {"generator": "tests/reference/make_baselines_reference.py", "encoder": enc,
            "variant": "protonet", "in_channels": 3, "size": 32, "B": ref.B, "M": ref.M,
            "classes": CLASSES, "parameters": n_params, "dtype": "float64",
            "hashed_init": ref.HASHED_INIT_DOC,
            "model": "encoders.build(enc, 'std') with linear = Identity (run_protonet.py)",
            "head": "prototypes = per-class mean of the support encodings (sorted by label); "
                    "logits = -cosine_distance(e, prototypes), eps 1e-6 inside the root",
            "loss": "NLLLoss(log_softmax(logits)) (mean)", "labels": str(LABELS),
            "support_labels": str(SUPPORT_LABELS),
            "optimizer": "SGD lr 0.1 momentum 0.9 nesterov wd 5e-4, one step",
            "train_mode": "model.train(): BN batch statistics; running stats updated once per "
                          "encoder call (inputs, then support)",
            **{k + "_version": v for k, v in versions().items()}}
    if enc in ref.DROPOUT_ZEROED:
        raise ValueError(f"{enc}: dropout masks cannot be matched; pick another encoder")
    path = os.path.join(outdir, f"encoder_{enc}_protonet.safetensors")
    save_safetensors(path, t, meta)
    print(f"{enc:12s} protonet: {n_params:,d} params, eval argmax "
          f"{t['eval.logits'].argmax(1).tolist()}, train loss {loss.item():.6f}, "
          f"float32 loss deviation {t['noise.train.loss'].item():.2g}")
    return path


# ---------------------------------------------------------------------------------------
# Matching Networks (run_matching.py's BidrectionalLSTM and AttentionLSTM, written here)

MATCHING_CLASSES = 10  # run_matching.py: torch.nn.functional.one_hot(y_ss, 10)
UNROLLING_STEPS = 2


class FullContextSupport(torch.nn.Module):
    """g: nn.LSTM(d, d, bidirectional) over the support as one sequence, plus the input."""

    def __init__(self, d):
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size=d, hidden_size=d, num_layers=1, bidirectional=True)

    def forward(self, s):
        out, _ = self.lstm(s.unsqueeze(1), None)
        d = self.lstm.hidden_size
        return (out[:, :, :d] + out[:, :, d:] + s.unsqueeze(1)).squeeze(1)


class AttentionQueries(torch.nn.Module):
    """f: nn.LSTMCell(d, d) unrolled from zero states, attending over the support g."""

    def __init__(self, d):
        super().__init__()
        self.lstm_cell = torch.nn.LSTMCell(input_size=d, hidden_size=d)

    def forward(self, g, q):
        h_hat = torch.zeros_like(q)
        c = torch.zeros_like(q)
        for _ in range(UNROLLING_STEPS):
            h = h_hat + q
            a = torch.mm(h, g.t()).softmax(dim=1)
            r = torch.mm(a, g)
            h_hat, c = self.lstm_cell(q, (h + r, c))
        return h_hat + q


class Matching(torch.nn.Module):
    def __init__(self, encoder, d):
        super().__init__()
        self.encoder = encoder
        self.g = FullContextSupport(d)
        self.f = AttentionQueries(d)


def matching_logits(model, x, support, support_labels):
    e = model.encoder(x)
    s = model.encoder(support)
    g = model.g(s)
    q = model.f(g, e)
    attention = (-cosine_distance(q, g)).softmax(dim=1)
    onehot = torch.nn.functional.one_hot(support_labels, MATCHING_CLASSES).to(q.dtype)
    y = torch.mm(attention, onehot)
    return y.clamp(EPSILON, 1 - EPSILON).log(), e


def memwrap_name(key):
    return key[len("encoder."):] if key.startswith("encoder.") else key


def matching_train_step(model, x, support, support_labels, y):
    model.train()
    opt = torch.optim.SGD(model.parameters(), **ref.SGD)
    opt.zero_grad()
    logits, _ = matching_logits(model, x, support, support_labels)
    loss = torch.nn.CrossEntropyLoss()(logits, y)
    loss.backward()
    opt.step()
    return loss, logits, {k: v.detach().double() for k, v in model.state_dict().items()}


def matching_case(outdir, enc):
    torch.manual_seed(0)
    encoder = encoders.build(enc, "std", 10, 3).double()
    d = encoder.linear.in_features
    encoder.linear = torch.nn.Identity()
    model = Matching(encoder, d).double()
    n_params = encoders.count_params(model)
    ref.hashed_init_(model.encoder)
    t = {}
    s_ab = (-1.0 / d ** 0.5, 2.0 / d ** 0.5)
    with torch.no_grad():
        for k, v in list(model.g.state_dict().items()) + list(model.f.state_dict().items()):
            name = ("g." if k.startswith("lstm.") else "f.") + k
            vals = ref.hashed_values(name, v.numel(), *s_ab).astype("float64")
            v.copy_(torch.from_numpy(vals).reshape(v.shape))
            t["init." + name + ".ab"] = torch.tensor(s_ab, dtype=torch.float64)
    x = ref.hashed_input("input", (ref.B, 3, 32, 32))
    support = ref.hashed_input("memory", (ref.M, 3, 32, 32))
    support_labels = torch.tensor(SUPPORT_LABELS, dtype=torch.int64)
    ranges = ref.calibrate_running_stats(model.encoder, torch.cat([x, support]))
    for k, ab in ranges.items():
        t["init." + k + ".ab"] = torch.tensor(ab, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        logits, e = matching_logits(model, x, support, support_labels)
    t["eval.logits"] = logits
    ref.fingerprint(t, "eval.encoding", e)
    y = torch.tensor(LABELS, dtype=torch.int64)
    f32 = matching_train_step(copy.deepcopy(model).float(), x.float(), support.float(),
                              support_labels, y)
    loss, logits, _ = matching_train_step(model, x, support, support_labels, y)
    record_step(t, model, f32, loss, logits, y, support_labels, memwrap_name)
    meta = {"generator": "tests/reference/make_baselines_reference.py", "encoder": enc,
            "variant": "matching", "in_channels": 3, "size": 32, "B": ref.B, "M": ref.M,
            "classes": MATCHING_CLASSES, "parameters": n_params, "dtype": "float64",
            "hashed_init": ref.HASHED_INIT_DOC,
            "model": "encoder = encoders.build(enc, 'std') with linear = Identity; "
                     "g = nn.LSTM(d, d, bidirectional) + input; f = nn.LSTMCell(d, d) "
                     f"unrolled {UNROLLING_STEPS} times (run_matching.py)",
            "names": "stored without the state_dict's 'encoder.' prefix",
            "loss": "CrossEntropyLoss(log(clamp(softmax(-cosine_distance(f, g)) @ "
                    "one_hot(support, 10), 1e-6, 1 - 1e-6)), labels)",
            "labels": str(LABELS), "support_labels": str(SUPPORT_LABELS),
            "optimizer": "SGD lr 0.1 momentum 0.9 nesterov wd 5e-4, one step",
            **{k + "_version": v for k, v in versions().items()}}
    path = os.path.join(outdir, f"encoder_{enc}_matching.safetensors")
    save_safetensors(path, t, meta)
    print(f"{enc:12s} matching: {n_params:,d} params, eval argmax "
          f"{t['eval.logits'].argmax(1).tolist()}, train loss {loss.item():.6f}, "
          f"float32 loss deviation {t['noise.train.loss'].item():.2g}")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    paths = [case(args.out, enc) for enc in ENCODERS] + [matching_case(args.out, "mobilenetv2")]
    for p in paths:
        print(f"{os.path.relpath(p, os.getcwd())}: {len(describe(p))} tensors, "
              f"{os.path.getsize(p) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
