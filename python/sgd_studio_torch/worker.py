"""The training loop of the torch engine. It does what the Node driver asks:
init (model, optimizer, data, speed options, resume state), one epoch at a
time (the order, augmentation and per-step learning rates come with it),
save (a checkpoint's state file). Per step it reports the same scalars as
core/engine/step.ts trainStep (loss, squared gradient norm, correct count,
and the squared norm over the first quarter of the batch for the two-batch
estimate of C); the driver turns them into the run's events.
"""
import contextlib
import math
import os
import sys
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F

from . import PROTOCOL_VERSION
from .models import build_model, trainable_count
from .phases import from_env as phases_from_env
from .protocol import Channel
from .sharpness import measure as measure_sharpness
from .sharpness import planned_passes

REPORT_EVERY = 10
# Sharpness progress messages at most this often (seconds), as core/engine/sharpness.ts.
PROGRESS_EVERY = 0.25
EVAL_BATCH = 500
DIRECT_BATCHES = 8


class EngineError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def pick_device(name):
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise EngineError("backend", f"unknown torch device {name!r}: {e}; use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError("backend", f"device {name} was asked for, but this torch has no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda}); use device auto or cpu")
    return device


def make_optimizer(spec, params):
    kind = spec["kind"]
    wd = spec.get("weightDecay")
    mu = spec.get("momentum")
    mu = 0.9 if mu is None else mu
    betas = (spec.get("beta1", 0.9), spec.get("beta2", 0.999))
    eps = spec.get("eps", 1e-8)
    # The same update rules as core/engine/optimizers.ts (checked against torch.optim there).
    if kind == "sgd":
        return torch.optim.SGD(params, lr=0.0, weight_decay=wd or 0.0)
    if kind in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=0.0, momentum=mu, nesterov=kind == "nesterov", weight_decay=wd or 0.0)
    if kind == "adam":
        return torch.optim.Adam(params, lr=0.0, betas=betas, eps=eps, weight_decay=wd or 0.0)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=0.0, betas=betas, eps=eps, weight_decay=0.01 if wd is None else wd)
    raise EngineError("bad-spec", f"unknown optimizer {kind!r}")


def model_input(x, device, flat, channels_last):
    """NHWC float32 -> the model's input on `device`: as it is for a model that starts
    by flattening, else NCHW (plain strides, or channels-last memory when asked for)."""
    x = x.to(device, non_blocking=True)
    if flat:
        return x
    x = x.permute(0, 3, 1, 2)
    if channels_last:
        return x.contiguous(memory_format=torch.channels_last)
    # Not x.contiguous(): a 1-channel batch is already "contiguous" after the permute, with
    # strides (HW, 1, W, 1) that torch also reads as channels-last, and the convolutions then
    # ran the whole network channels-last (cnn on Fashion-MNIST: ~15% more CPU time per step
    # than the same model in NCHW, and not what "channels-last off" says). A copy into plain
    # NCHW strides costs ~0.1 ms.
    return torch.empty(x.shape, dtype=x.dtype, device=x.device).copy_(x)


def sum_squares(tensors):
    return torch.stack([t.detach().float().pow(2).sum() for t in tensors]).sum()


class Engine:
    def __init__(self, channel, init):
        self.ch = channel
        opts = init.get("options") or {}
        self.notes = []
        self.device = pick_device(opts.get("device", "auto"))
        threads = opts.get("threads")
        if threads:
            torch.set_num_threads(int(threads))
        h, w, c = init["shape"]
        self.shape = (h, w, c)
        self.num_classes = init["classes"]
        self.noise_every = init.get("noiseEvery", 50)
        # Tests only: every step takes this much longer (the Run view's ETA test).
        self.step_delay = float(init.get("stepDelayMs") or 0) / 1000
        self.pad = init.get("augmentPadding", 4)
        # Benchmarks only (SGD_STUDIO_TORCH_PHASES): where each window's time went.
        self.phases = phases_from_env()
        self.model = build_model(init["graph"], init["seed"]).to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # A model that starts by flattening (mlp) takes the NHWC rows as they are:
        # no transpose copy per step (the flattened order is a fixed permutation of pixels).
        nodes = init["graph"]["nodes"]
        self.flat_input = len(nodes) > 1 and nodes[1]["op"] == "flatten"
        self.applied = {"device": str(self.device), "threads": torch.get_num_threads()}
        self._speed_options(opts, init)
        self.optimizer = make_optimizer(init["optimizer"], self.params)
        self.scaler = None
        if self.autocast_dtype == torch.float16:
            self.scaler = torch.cuda.amp.GradScaler()
        self._load_data(init)
        if init.get("resume"):
            self._restore(init["resume"])

    # ------------------------------------------------------------ options
    def _speed_options(self, opts, init):
        dev = self.device.type
        has_conv = any(n["op"] == "conv" for n in init["graph"]["nodes"])
        cl = opts.get("channelsLast", False)
        if cl and not has_conv:
            self.notes.append("channels-last: not used (the model has no convolutions)")
            cl = False
        self.channels_last = bool(cl)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.applied["channelsLast"] = self.channels_last

        ac = opts.get("autocast", "off")
        self.autocast_dtype = None
        if ac == "bf16":
            if dev == "cuda" and not torch.cuda.is_bf16_supported():
                self.notes.append("autocast bf16: this GPU has no bf16; training in fp32")
            elif dev in ("cpu", "cuda"):
                self.autocast_dtype = torch.bfloat16
            else:
                self.notes.append(f"autocast bf16: not supported on {dev}; training in fp32")
        elif ac == "fp16":
            if dev == "cuda":
                self.autocast_dtype = torch.float16
            else:
                self.notes.append(f"autocast fp16: needs a CUDA device (this run is on {dev}); training in fp32")
        self.applied["autocast"] = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.autocast_dtype, "off")

        self.forward = self.model
        want_compile = opts.get("compile", False)
        compiled = False
        if want_compile:
            if hasattr(torch, "compile"):
                self.forward = torch.compile(self.model)
                compiled = True
            else:
                self.notes.append(f"torch.compile: unavailable in torch {torch.__version__} (it needs torch 2.0 or later); running eagerly")
        self.applied["compile"] = compiled
        if dev == "cuda":
            # fp32 means fp32 (cuDNN would use TF32 for convs by default): the same numerics as the other engines.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = True

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    # --------------------------------------------------------------- data
    def _load_data(self, init):
        h, w, c = self.shape
        blobs = init["_blobs"]
        n_train, n_test = init["trainCount"], init["testCount"]
        size = h * w * c
        want = opts_on_device = (init.get("options") or {}).get("dataOnDevice", "auto")
        nbytes = (n_train + n_test) * size
        if want == "auto":
            # Small datasets live on the device: no loader, no host-to-device copy per step.
            on_device = self.device.type == "cpu" or nbytes <= 4 * 2**30
        else:
            on_device = bool(opts_on_device)
        self.applied["dataOnDevice"] = on_device
        store = self.device if on_device else torch.device("cpu")
        self.data_device = store

        def images(buf, n):
            t = torch.frombuffer(buf, dtype=torch.uint8)
            if t.numel() != n * size:
                raise EngineError("dataset", f"expected {n * size} image bytes, got {t.numel()}")
            return t.view(n, h, w, c).to(store)

        def labels(buf, n):
            t = torch.frombuffer(buf, dtype=torch.int32)
            if t.numel() != n:
                raise EngineError("dataset", f"expected {n} labels, got {t.numel()}")
            return t.to(torch.int64).to(store)

        self.train_u8 = images(blobs[0], n_train)
        self.train_y = labels(blobs[1], n_train)
        self.test_u8 = images(blobs[2], n_test)
        self.test_y = labels(blobs[3], n_test)
        # lut[v, ch] = (v / 255 - mean[ch]) / std[ch], computed in float64 and rounded
        # to float32 as core/data/augment.ts normalizationTable does: the same inputs bit for bit.
        mean = np.asarray(init["stats"]["mean"], dtype=np.float64)
        std = np.asarray(init["stats"]["std"], dtype=np.float64)
        v = np.arange(256, dtype=np.float64)[:, None]
        self.lut = torch.from_numpy(((v / 255 - mean[None, :]) / std[None, :]).astype(np.float32)).to(store)
        self.ar_c = torch.arange(c, device=store)
        self.ar_h = torch.arange(h, device=store)
        self.ar_w = torch.arange(w, device=store)
        # Without augmentation the normalised images are made once.
        self.train_f = None
        self.test_f = self.lut[self.test_u8.long(), self.ar_c] if on_device else None

    def _normalised_train(self):
        if self.train_f is None and self.data_device == self.device:
            self.train_f = self.lut[self.train_u8.long(), self.ar_c]
        return self.train_f

    def _to_model(self, x):
        return model_input(x, self.device, self.flat_input, self.channels_last)

    def batch(self, idx, aug=None):
        """Images idx of the training set, augmented as core/data/augment.ts writeTransformed."""
        if aug is None:
            pre = self._normalised_train()
            if pre is not None:
                x = pre.index_select(0, idx)
            else:
                x = self.lut[self.train_u8.index_select(0, idx).long(), self.ar_c]
        else:
            dy, dx, flip = aug
            p = self.pad
            h, w, _ = self.shape
            u8 = self.train_u8.index_select(0, idx)
            padded = F.pad(u8, (0, 0, p, p, p, p))  # pixel value 0 outside, as the JS loop
            rows = self.ar_h[None, :] + dy[:, None] + p
            cols = torch.where(flip[:, None], (w - 1) - self.ar_w[None, :], self.ar_w[None, :]) + dx[:, None] + p
            n = idx.shape[0]
            ar_n = torch.arange(n, device=u8.device)
            u8 = padded[ar_n[:, None, None], rows[:, :, None], cols[:, None, :]]
            x = self.lut[u8.long(), self.ar_c]
        return self._to_model(x), self.train_y.index_select(0, idx).to(self.device, non_blocking=True)

    # --------------------------------------------------------------- steps
    def step(self, x, y, lr, measure):
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            logits = self.forward(x)
            loss = F.cross_entropy(logits.float(), y)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        grad_sq = sum_squares([p.grad for p in self.params])
        correct = (logits.argmax(1) == y).sum()
        small = None
        k = 0
        if measure:
            # The gradient over the first quarter of the batch at the same weights (before the update).
            k = max(1, y.shape[0] // 4)
            with self.autocast():
                small_loss = F.cross_entropy(self.forward(x[:k]).float(), y[:k])
            small = sum_squares(torch.autograd.grad(small_loss, self.params))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss.detach(), grad_sq, correct, small, k

    def run_epoch(self, msg):
        blobs = msg.get("_blobs") or []
        dev = self.data_device
        order = torch.from_numpy(np.frombuffer(blobs[0], dtype=np.uint32).astype(np.int64)).to(dev)
        aug_all = None
        if msg.get("augment"):
            dy = torch.from_numpy(np.frombuffer(blobs[1], dtype=np.int32).astype(np.int64)).to(dev)
            dx = torch.from_numpy(np.frombuffer(blobs[2], dtype=np.int32).astype(np.int64)).to(dev)
            flip = torch.from_numpy(np.frombuffer(blobs[3], dtype=np.uint8).astype(np.bool_)).to(dev)
            aug_all = (dy, dx, flip)
        bs = msg["batchSize"]
        n_batches = msg["batches"]
        lrs = msg["lrs"]
        step = msg["firstStep"]
        self.model.train()
        pending = []
        phases = self.phases
        window = time.perf_counter()
        phases.start()
        stopped = False
        for b in range(n_batches):
            if self.ch.paused.is_set():
                self._flush(pending, window)
                pending = []
                self.ch.wait_while_paused()
                window = time.perf_counter()
                phases.start()
            if self.ch.stopped.is_set():
                stopped = True
                break
            phases.lap("control")
            lo = b * bs
            hi = min(lo + bs, order.shape[0])
            idx = order[lo:hi]
            aug = None if aug_all is None else tuple(a[lo:hi] for a in aug_all)
            x, y = self.batch(idx, aug)
            phases.lap("data")
            size = hi - lo
            measure = self.noise_every > 0 and step % self.noise_every == 0 and size >= 8
            loss, gsq, correct, small, k = self.step(x, y, lrs[b], measure)
            phases.lap("step")
            if self.step_delay > 0:
                time.sleep(self.step_delay)
                phases.lap("control")
            pending.append((step, size, loss, gsq, correct, small, k))
            step += 1
            if len(pending) >= REPORT_EVERY:
                window = self._flush(pending, window)
                pending = []
        self._flush(pending, window)
        if stopped:
            self.ch.send({"type": "epoch-end", "epoch": msg["epoch"], "stopped": True})
            return
        direct = None
        if msg.get("direct"):
            direct = self.direct_noise(blobs[4], msg["direct"]["size"])
        test_loss, test_acc = self.evaluate()
        self.ch.send({"type": "epoch-end", "epoch": msg["epoch"], "stopped": False,
                      "testLoss": test_loss, "testAccuracy": test_acc, "directC": direct})

    def _flush(self, pending, window):
        """Reads a window of steps' scalars back in one sync and reports them."""
        if not pending:
            return time.perf_counter()
        zero = torch.zeros((), device=self.device)
        stacked = torch.stack([torch.stack([p[2].float(), p[3], p[4].float(), zero if p[5] is None else p[5]]) for p in pending])
        values = stacked.cpu().tolist()
        now = time.perf_counter()
        rows = []
        for p, v in zip(pending, values):
            rows.append([p[0], p[1], v[0], v[1], v[2], v[3] if p[5] is not None else None, p[6]])
        self.ch.send({"type": "steps", "elapsed": now - window, "rows": rows})
        self.phases.window(pending[0][0], len(pending), sum(p[1] for p in pending))
        return now

    # ---------------------------------------------------------- measuring
    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        n = self.test_y.shape[0]
        bs = min(EVAL_BATCH, n)
        loss_sum = 0.0
        correct = 0
        for lo in range(0, n, bs):
            hi = min(lo + bs, n)
            if self.test_f is not None:
                x = self.test_f[lo:hi]
            else:
                x = self.lut[self.test_u8[lo:hi].long(), self.ar_c]
            x = self._to_model(x)
            y = self.test_y[lo:hi].to(self.device)
            with self.autocast():
                logits = self.forward(x)
            logits = logits.float()
            loss_sum += float(F.cross_entropy(logits, y)) * (hi - lo)
            correct += int((logits.argmax(1) == y).sum())
        self.model.train()
        return loss_sum / n, correct / n

    def direct_noise(self, order_blob, size):
        """C from DIRECT_BATCHES mini-batch gradients (core/smoothing/noise.ts directNoiseEstimate,
        g = their mean); batch-norm running statistics are put back afterwards."""
        order = torch.from_numpy(np.frombuffer(order_blob, dtype=np.uint32).astype(np.int64)).to(self.data_device)
        saved = {k: v.clone() for k, v in self.model.state_dict().items() if not k.endswith(("weight", "bias"))}
        grads = []
        for b in range(DIRECT_BATCHES):
            idx = order[b * size:(b + 1) * size]
            if idx.shape[0] < size:
                break
            x, y = self.batch(idx)
            with self.autocast():
                loss = F.cross_entropy(self.forward(x).float(), y)
            g = torch.autograd.grad(loss, self.params)
            grads.append(torch.cat([t.detach().float().reshape(-1) for t in g]))
        self.model.load_state_dict(saved, strict=False)
        k = len(grads)
        if k < 2:
            return None
        mean = torch.zeros_like(grads[0], dtype=torch.float64)
        for g in grads:
            mean += g.double() / k
        total = 0.0
        for g in grads:
            total += float(((g.double() - mean) ** 2).sum())
        return math.sqrt((k / (k - 1)) * size * total / k)

    def sharpness(self, msg):
        """Sharpness at the current weights (sharpness.py) on the subset the driver picked
        (core/engine/sharpness.ts sharpnessSubset: its indices arrive as a blob), in fp32
        and eval mode whatever the training's autocast: the same measurement as TF.js.
        Progress every PROGRESS_EVERY s; stop (between batches) answers values None;
        a failure is reported in the answer and training goes on."""
        settings = msg["settings"]
        bs = msg["batchSize"]
        order = torch.from_numpy(np.frombuffer(msg["_blobs"][0], dtype=np.uint32).astype(np.int64))
        order = order.to(self.data_device)
        state = {"done": 0, "last": -math.inf}
        total = planned_passes(settings["variants"], settings["iterations"], -(-order.shape[0] // bs))

        def on_pass():
            state["done"] += 1
            now = time.perf_counter()
            if state["done"] == 1 or now - state["last"] >= PROGRESS_EVERY:
                state["last"] = now
                self.ch.send({"type": "sharpness-progress", "done": state["done"], "total": total})

        def should_stop():
            if self.ch.paused.is_set():
                self.ch.wait_while_paused()
            return self.ch.stopped.is_set()

        try:
            batches = [self.batch(order[lo:lo + bs]) for lo in range(0, order.shape[0], bs)]
            values = measure_sharpness(self.model, batches, settings, should_stop, on_pass)
        except Exception as err:  # noqa: BLE001 - the run goes on without the value
            traceback.print_exc(file=sys.stderr)
            self.ch.send({"type": "sharpness-end", "values": None, "total": total,
                          "error": f"{type(err).__name__}: {err}"})
            return
        self.ch.send({"type": "sharpness-end", "values": values, "total": total})

    # -------------------------------------------------------- checkpoints
    def save(self, path):
        state = {
            "protocol": PROTOCOL_VERSION,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": torch.get_rng_state(),
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        torch.save(state, path)
        return os.path.getsize(path)

    def _restore(self, path):
        try:
            state = torch.load(path, map_location=self.device)
        except Exception as e:  # noqa: BLE001
            raise EngineError("checkpoint", f"cannot read the torch checkpoint {path}: {e}")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise EngineError("checkpoint", f"checkpoint {path} does not fit this run's model or optimizer ({e}); resume with the spec it was made with")
        torch.set_rng_state(state["rng"].cpu())
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])


def classify(err):
    text = str(err)
    if isinstance(err, EngineError):
        return err.code, text
    if isinstance(err, MemoryError) or "out of memory" in text.lower():
        return "out-of-memory", text or "out of memory"
    return "internal", f"{type(err).__name__}: {text}"


def main():
    ch = Channel()
    engine = None
    try:
        while True:
            msg = ch.next()
            kind = msg.get("type")
            if kind == "init":
                engine = Engine(ch, msg)
                ch.send({"type": "ready", "protocol": PROTOCOL_VERSION, "parameters": trainable_count(engine.model),
                         "torch": torch.__version__, "python": sys.version.split()[0],
                         "applied": engine.applied, "notes": engine.notes})
            elif kind == "epoch":
                engine.run_epoch(msg)
            elif kind == "sharpness":
                engine.sharpness(msg)
            elif kind == "save":
                ch.send({"type": "saved", "bytes": engine.save(msg["path"])})
            elif kind == "exit":
                break
    except Exception as err:  # noqa: BLE001 - every failure is reported to the host
        code, message = classify(err)
        traceback.print_exc(file=sys.stderr)
        ch.send({"type": "error", "code": code, "message": message})
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)
