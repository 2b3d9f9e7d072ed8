#!/usr/bin/env python3
"""PyTorch reference for bench/speed.bench.ts: the same three models and the
same training step, timed the same way, so that tfjs throughput can be read as
a fraction of what PyTorch gets on the same hardware.

Models mirror core/models/architectures.ts layer for layer (parameter counts
must match; tests/bench-speed.test.ts checks them against createModel):
  mlp       784-256-128-10                      235,146 parameters
  cnn       2 x [conv3x3 no bias, BN, ReLU, maxpool 2], Dense 128, Dense 10
                                                421,738
  resnet18  CIFAR ResNet-18 (3x3 stem, no max pool, 1x1 conv+BN shortcuts)
                                                11,173,962
Layout is NCHW (PyTorch's native one); only the arithmetic matters here.

The step mirrors core/engine/step.ts trainStep with optimizer "sgd": forward
in training mode, softmax cross-entropy, backward, the squared gradient norm
and the correct count (both kept on the device, as trainStep does), then
p -= 0.01 * g. One host read of the loss per step, like the tfjs side's
`await loss.data()`. --bare drops the norm and the count.

fp32 throughout: TF32 is switched off on CUDA (cuDNN enables it for convs by
default) unless --tf32 is given. Written for torch >= 1.13 (no torch.compile).

Modes:
  --info              JSON: torch version, CUDA availability, device names
  --count-params      JSON: {model: trainable parameter count}
  (default)           measure: --models --batch --steps --warmup
                      --max-seconds --device cpu|cuda|auto --threads --json
"""
import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SHAPES = {"mlp": (1, 28, 28), "cnn": (1, 28, 28), "resnet18": (3, 32, 32)}
NUM_CLASSES = 10
# core/models/builder.ts uses PyTorch's batch-norm defaults (momentum 0.9 in
# Keras terms is 0.1 here; eps 1e-5), so nn.BatchNorm2d() as is.


def mlp():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, NUM_CLASSES),
    )


def conv3x3(cin, cout, stride=1):
    # 'same' padding as in tfjs; no bias because batch norm follows every conv.
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def cnn():
    return nn.Sequential(
        conv3x3(1, 32),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        conv3x3(32, 64),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(7 * 7 * 64, 128),
        nn.ReLU(),
        nn.Linear(128, NUM_CLASSES),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv3x3(3, 64), nn.BatchNorm2d(64), nn.ReLU())
        blocks = []
        cin = 64
        for stage, width in enumerate([64, 128, 256, 512]):
            for i in range(2):
                blocks.append(BasicBlock(cin, width, 2 if stage > 0 and i == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, NUM_CLASSES)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {"mlp": mlp, "cnn": cnn, "resnet18": ResNet18}


def count_params(model):
    # parameters() excludes the batch-norm running statistics (buffers), as
    # the tfjs side's trainable count does.
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def cpu_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def info():
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "python": sys.executable,
        "pythonVersion": platform.python_version(),
        "cuda": cuda,
        "cudaVersion": torch.version.cuda,
        "cudaDevices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
        "cpu": cpu_name(),
        "cores": cpu_cores(),
    }


def measure(name, device, batch, steps, warmup, max_seconds, bare, bf16_cl=False):
    torch.manual_seed(0)
    model = MODELS[name]().to(device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    params = [p for p in model.parameters() if p.requires_grad]
    x = torch.randn(batch, *INPUT_SHAPES[name], device=device)
    y = (torch.arange(batch, device=device) % NUM_CLASSES).long()
    cuda = device.type == "cuda"
    # --bf16-cl: channels-last memory and bf16 autocast, the usual fast recipe on recent GPUs.
    if bf16_cl and x.dim() == 4 and name != "mlp":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = (
        (lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16))
        if bf16_cl
        else contextlib.nullcontext
    )

    def step():
        with autocast():
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if not bare:
            # What trainStep also returns: the squared gradient norm (before
            # the update) and the correct count; left on the device unread.
            with torch.no_grad():
                norm_sq = torch.stack([p.grad.pow(2).sum() for p in params]).sum()
                correct = (logits.argmax(1) == y).sum()
            del norm_sq, correct
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        loss.item()

    t0 = time.perf_counter()
    step()
    first_ms = (time.perf_counter() - t0) * 1000
    # Warm-up (cuDNN autotuning, allocator) and timing both stop early once
    # max_seconds have passed, so a slow device cannot hold the run for long.
    warm_done = 1
    while warm_done < warmup and time.perf_counter() - t0 < max_seconds:
        step()
        warm_done += 1
    times = []
    start = time.perf_counter()
    # The process's CPU time (all its threads) beside the wall time: a neighbour taking the
    # cores stretches wall time but hardly CPU time (the engine's phases file reports the same).
    cpu_start = time.process_time()
    while len(times) < steps:
        s = time.perf_counter()
        step()
        times.append(time.perf_counter() - s)
        if time.perf_counter() - start >= max_seconds:
            break
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    ms = total * 1000 / len(times)
    return {
        "imgPerSec": batch * len(times) / total,
        "msPerStep": ms,
        "medianMsPerStep": statistics.median(times) * 1000,
        "cpuMsPerStep": cpu * 1000 / len(times),
        "firstStepMs": first_ms,
        "steps": len(times),
        "warmupSteps": warm_done,
        "stoppedByTime": len(times) < steps,
        "params": count_params(model),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--info", action="store_true")
    ap.add_argument("--count-params", action="store_true")
    ap.add_argument("--models", default="mlp,cnn,resnet18")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 on CUDA (default: strict fp32)")
    ap.add_argument("--bare", action="store_true", help="skip trainStep's gradient norm and count")
    ap.add_argument("--bf16-cl", action="store_true", help="bf16 autocast + channels-last (default: fp32)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    if a.info:
        print(json.dumps(info()))
        return 0
    if a.count_params:
        print(json.dumps({n: count_params(f()) for n, f in MODELS.items()}))
        return 0

    models = [m for m in a.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; models: {', '.join(MODELS)}")
    if a.batch < 1 or a.steps < 1 or a.warmup < 1:
        ap.error("--batch, --steps and --warmup must be >= 1")
    dev = a.device
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cuda" and not torch.cuda.is_available():
        print("torch_speed.py: --device cuda, but torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    device = torch.device(dev)
    threads = a.threads or cpu_cores()
    torch.set_num_threads(threads)
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
        # Fixed shapes: let cuDNN pick its fastest algorithms during warm-up.
        torch.backends.cudnn.benchmark = True

    out = {
        "torch": torch.__version__,
        "device": dev,
        "deviceName": torch.cuda.get_device_name(device) if dev == "cuda" else cpu_name(),
        "threads": threads,
        "tf32": bool(a.tf32 and dev == "cuda"),
        "step": "bare" if a.bare else "trainStep",
        "precision": "bf16+CL" if a.bf16_cl else "fp32",
        "batch": a.batch,
        "results": {},
    }
    for name in models:
        r = measure(name, device, a.batch, a.steps, a.warmup, a.max_seconds, a.bare, a.bf16_cl)
        out["results"][name] = r
        if not a.json:
            print(
                f"{name:9} torch {dev}: {r['imgPerSec']:.1f} img/s ({r['msPerStep']:.2f} ms/step,"
                f" {r['steps']} steps, first step {r['firstStepMs']:.0f} ms)",
                flush=True,
            )
        if dev == "cuda":
            torch.cuda.empty_cache()
    if a.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
