"""Worst-case sharpness in PyTorch: the algorithm of core/engine/sharpness.ts,
ported line for line, run on the weights and evaluation batches the test
(tests/sharpness-torch.test.ts) writes, so the two implementations can be
compared on the same numbers.

    python3 tests/sharpness_torch.py <folder>

<folder>/manifest.json: {"weights": [{"name", "shape", "offset", "length"}],
"batches": [{"offset", "length", "shape", "labels"}], "numClasses",
"settings": {"rho", "rhoL2", "iterations", "variants"}} and <folder>/data.bin
(float32, little-endian). The model is the project's mlp (dense 256 - ReLU -
dense 128 - ReLU - dense classes; tfjs kernels are [in, out]). Prints one JSON
object: {"values": [{"variant", "value", "loss"}]}.
"""

import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

MOMENTUM = 0.75
MIN_UPDATE_RATIO = 0.75


def checkpoints(n):
    p = [0, 0.22]
    w = [0, math.ceil(n * 0.22)]
    while w[-1] < n and w[-1] != w[-2]:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
        w.append(math.ceil(p[-1] * n))
    return set(w[1:])


def mlp_loss(params, x, y):
    h = x.reshape(x.shape[0], -1)
    w1, b1, w2, b2, w3, b3 = params
    h = torch.relu(h @ w1 + b1)
    h = torch.relu(h @ w2 + b2)
    logits = h @ w3 + b3
    return F.cross_entropy(logits, y)


def worst_case_on_batch(w0, loss_fn, norm, adaptive, rho, iterations):
    """Returns (initial loss, best loss); u = d / s, s = |w| (adaptive) or 1."""
    scale = [w.abs() if adaptive else None for w in w0]
    cps = checkpoints(iterations)

    def evaluate(u, with_grads):
        params = []
        for i, w in enumerate(w0):
            d = u[i] * scale[i] if scale[i] is not None else u[i]
            params.append((w + d).detach().requires_grad_(with_grads))
        if with_grads:
            loss = loss_fn(params)
            grads = torch.autograd.grad(loss, params)
            return {"u": u, "loss": loss.item(), "grads": [g.detach() for g in grads]}
        with torch.no_grad():
            return {"u": u, "loss": loss_fn(params).item(), "grads": None}

    def project(u):
        if norm == "linf":
            return [t.clamp(-rho, rho) for t in u]
        total = torch.sqrt(sum((t * t).sum() for t in u))
        factor = torch.clamp(rho / torch.clamp(total, min=1e-30), max=1.0)
        return [t * factor for t in u]

    def ascend(p, eta):
        gu = [g * scale[i] if scale[i] is not None else g for i, g in enumerate(p["grads"])]
        if norm == "linf":
            direction = [torch.sign(g) for g in gu]
        else:
            total = torch.sqrt(sum((g * g).sum() for g in gu))
            direction = [g / (total + 1e-12) for g in gu]
        return project([t + direction[i] * eta for i, t in enumerate(p["u"])])

    start = evaluate([torch.zeros_like(w) for w in w0], True)
    initial = start["loss"]
    best = cur = start
    prev_u = start["u"]
    eta = 2 * rho
    prev_eta, prev_best_loss, prev_cp, updates = eta, initial, 0, 0
    for i in range(iterations):
        z = ascend(cur, eta)
        if i == 0:
            nxt = z
        else:
            nxt = project(
                [
                    c + (z[j] - c) * MOMENTUM + (c - prev_u[j]) * (1 - MOMENTUM)
                    for j, c in enumerate(cur["u"])
                ]
            )
        point = evaluate(nxt, i < iterations - 1)
        prev_u = cur["u"]
        cur = point
        if point["loss"] > best["loss"]:
            best = point
            updates += 1
        if i in cps:
            few_updates = updates < MIN_UPDATE_RATIO * (i - prev_cp)
            stalled = prev_eta == eta and prev_best_loss == best["loss"]
            prev_eta, prev_best_loss, prev_cp, updates = eta, best["loss"], i, 0
            if (few_updates or stalled) and i < iterations - 1:
                eta /= 2
                cur = best
                prev_u = best["u"]
    return initial, best["loss"]


def main():
    folder = sys.argv[1]
    with open(f"{folder}/manifest.json") as f:
        manifest = json.load(f)
    data = np.fromfile(f"{folder}/data.bin", dtype="<f4")

    def tensor(entry):
        a = data[entry["offset"] : entry["offset"] + entry["length"]]
        return torch.from_numpy(a.copy()).reshape(entry["shape"])

    torch.set_num_threads(1)
    w0 = [tensor(w) for w in manifest["weights"]]
    batches = [
        (tensor(b), torch.tensor(b["labels"], dtype=torch.long)) for b in manifest["batches"]
    ]
    s = manifest["settings"]
    out = []
    for variant in s["variants"]:
        if variant == "l2":
            norm, adaptive, rho, iters = "l2", False, s["rhoL2"], s["iterations"]
        else:
            norm, adaptive, rho = "linf", True, s["rho"]
            iters = 1 if variant == "one-step" else s["iterations"]
        total, loss_total, count = 0.0, 0.0, 0
        for x, y in batches:
            initial, worst = worst_case_on_batch(
                w0, lambda p, x=x, y=y: mlp_loss(p, x, y), norm, adaptive, rho, iters
            )
            total += (worst - initial) * x.shape[0]
            loss_total += initial * x.shape[0]
            count += x.shape[0]
        out.append({"variant": variant, "value": total / count, "loss": loss_total / count})
    print(json.dumps({"values": out, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
