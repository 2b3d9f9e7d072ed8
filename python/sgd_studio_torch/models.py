"""Models built from the graph the Node side sends (core/engine/torch/graph.ts
walks the same architecture functions as the TF.js models, core/models), so
both engines train the same layers with the same parameter counts.

Differences from TF.js, on purpose: tensors are NCHW (or channels-last
memory), and a stride-2 3x3 conv pads 1 pixel on every side (PyTorch's
convention) where TF's 'same' pads 0 before and 1 after; shapes, parameter
counts and initial distributions are the same.
Initialisation as in core/models/builder.ts: He normal (fan in, truncated at
2 std, as tfjs) for convs and hidden dense layers, Glorot uniform for the
logits, zero biases, batch norm gamma 1 beta 0 (momentum 0.9 in Keras terms,
eps 1e-5).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def _he_(weight, fan_in):
    std = math.sqrt(2.0 / max(1, fan_in))
    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


class GraphNet(nn.Module):
    """Evaluates the node list in order; each node's output is kept by index."""

    def __init__(self, nodes):
        super().__init__()
        self.nodes = nodes
        self.layers = nn.ModuleDict()
        for n in nodes:
            op = n["op"]
            name = n["name"]
            if op == "conv":
                cin = n["in"][2]
                k = n["kernel"]
                m = nn.Conv2d(cin, n["filters"], k, stride=n.get("strides", 1),
                              padding=k // 2, bias=n.get("useBias", False))
                _he_(m.weight, cin * k * k)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
                self.layers[name] = m
            elif op == "batchNorm":
                self.layers[name] = nn.BatchNorm2d(n["in"][-1], eps=1e-5, momentum=0.1)
            elif op == "dense":
                fan_in = n["in"][-1]
                m = nn.Linear(fan_in, n["units"])
                if n.get("init", "he") == "he":
                    _he_(m.weight, fan_in)
                else:
                    nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
                self.layers[name] = m
            elif op == "dropout":
                self.layers[name] = nn.Dropout(n["rate"])
            elif op not in ("input", "relu", "add", "maxPool", "globalAvgPool", "flatten"):
                raise ValueError(f"unknown layer op {op!r} in the model graph")

        # After its last use an output is dropped (eval keeps no more than it needs).
        last = {}
        for i, n in enumerate(nodes):
            for j in n["inputs"]:
                last[j] = i
        self.free_after = [[j for j in n["inputs"] if last.get(j) == i] for i, n in enumerate(nodes)]

    def forward(self, x):
        outs = []
        for i, n in enumerate(self.nodes):
            op = n["op"]
            ins = [outs[i] for i in n["inputs"]]
            if op == "input":
                y = x
            elif op in ("conv", "batchNorm", "dropout"):
                y = self.layers[n["name"]](ins[0])
            elif op == "dense":
                y = self.layers[n["name"]](ins[0])
                if n.get("activation") == "relu":
                    y = F.relu(y)
            elif op == "relu":
                y = F.relu(ins[0])
            elif op == "add":
                y = ins[0] + ins[1]
            elif op == "maxPool":
                y = F.max_pool2d(ins[0], n["size"])
            elif op == "globalAvgPool":
                y = ins[0].mean(dim=(2, 3))
            elif op == "flatten":
                y = torch.flatten(ins[0], 1)  # NCHW, or NHWC rows given as they are (worker.py)
            else:
                raise ValueError(op)
            outs.append(y)
            for j in self.free_after[i]:
                outs[j] = None
        return outs[-1]


def build_model(graph, seed):
    """The model of `graph`, its weights drawn from torch's generator seeded with `seed`."""
    torch.manual_seed(seed)
    return GraphNet(graph["nodes"])


def trainable_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
