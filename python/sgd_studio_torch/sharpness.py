"""Worst-case sharpness of a model at its current weights: the algorithm of
core/engine/sharpness.ts (docs/sharpness.md), step for step, so the torch
engine records the same values as the TF.js engines.

    S = mean over batches B of  max_{d in D} L_B(w + d) - L_B(w)

searched per batch by the same auto-PGD style ascent in u = d / s (s = |w|
for the adaptive box, 1 for the plain L2 ball). The model is evaluated with
torch.func.functional_call over its trainable parameters only, in eval mode:
batch norm uses its running statistics and they are not perturbed, and the
module's own weights are never written, so they are exactly as before; every
perturbed parameter is a fresh leaf detached from the model, so no autograd
graph outlives a pass.
"""
import math

import torch
import torch.nn.functional as F

try:
    from torch.func import functional_call
except ImportError:  # torch < 2.0 (Debian bookworm's 1.13): the same function, older home
    from torch.nn.utils.stateless import functional_call

MOMENTUM = 0.75
MIN_UPDATE_RATIO = 0.75


def checkpoints(n):
    """auto-PGD's checkpoints (0-based iterations at which the step is reconsidered)."""
    p = [0, 0.22]
    w = [0, math.ceil(n * 0.22)]
    while w[-1] < n and w[-1] != w[-2]:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
        w.append(math.ceil(p[-1] * n))
    return set(w[1:])


def ascent_of(variant, settings):
    """(norm, adaptive, rho, iterations) of a variant, as core/engine/sharpness.ts."""
    if variant == "l2":
        return "l2", False, settings["rhoL2"], settings["iterations"]
    iterations = 1 if variant == "one-step" else settings["iterations"]
    return "linf", True, settings["rho"], iterations


def planned_passes(variants, iterations, batches):
    return sum((1 if v == "one-step" else iterations) + 1 for v in variants) * batches


def worst_case_on_batch(w0, loss_fn, norm, adaptive, rho, iterations, on_pass=None):
    """(L_B(w0), best L_B(w0 + d) found); loss_fn(params) gives L_B at a list of parameters."""
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
            point = {"u": u, "loss": loss.item(), "grads": [g.detach() for g in grads]}
        else:
            with torch.no_grad():
                point = {"u": u, "loss": loss_fn(params).item(), "grads": None}
        if on_pass is not None:
            on_pass()
        return point

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

    with torch.no_grad():
        zeros = [torch.zeros_like(w) for w in w0]
    start = evaluate(zeros, True)
    initial = start["loss"]
    best = cur = start
    prev_u = start["u"]
    eta = 2 * rho
    prev_eta, prev_best_loss, prev_cp, updates = eta, initial, 0, 0
    for i in range(iterations):
        with torch.no_grad():
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
        # The last iterate needs no gradient: a forward pass only.
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
                # Halve the step and continue from the best point, without momentum.
                eta /= 2
                cur = best
                prev_u = best["u"]
    return initial, best["loss"]


def measure(model, batches, settings, should_stop=None, on_pass=None):
    """Sharpness of `model` on `batches` ([(x, y)], x already the model's input,
    y class indices) for settings["variants"]: [{"variant", "value", "loss",
    "examples"}] in the order asked, or None when should_stop() said so between
    batches. The model is left in the mode it was in, its parameters and buffers
    untouched."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    w0 = [p.detach() for n, p in model.named_parameters() if p.requires_grad]
    was_training = model.training
    model.eval()
    try:
        out = []
        for variant in settings["variants"]:
            norm, adaptive, rho, iterations = ascent_of(variant, settings)
            total, loss_total, count = 0.0, 0.0, 0
            for x, y in batches:
                if should_stop is not None and should_stop():
                    return None

                def loss_fn(params, x=x, y=y):
                    logits = functional_call(model, dict(zip(names, params)), (x,))
                    return F.cross_entropy(logits.float(), y)

                initial, worst = worst_case_on_batch(w0, loss_fn, norm, adaptive, rho, iterations, on_pass)
                n = int(y.shape[0])
                total += (worst - initial) * n
                loss_total += initial * n
                count += n
            out.append({"variant": variant, "value": total / count, "loss": loss_total / count, "examples": count})
        return out
    finally:
        model.train(was_training)
