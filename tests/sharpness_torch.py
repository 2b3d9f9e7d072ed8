"""Worst-case sharpness in PyTorch through the torch engine's own
implementation (python/sgd_studio_torch/sharpness.py), run on the weights
and evaluation batches the test (tests/sharpness-torch.test.ts) writes, so
the TF.js and torch implementations can be compared on the same numbers.

    python3 tests/sharpness_torch.py <folder>

<folder>/manifest.json: {"graph" (core/models modelGraph of the mlp),
"weights": [{"name", "shape", "offset", "length"}], "batches": [{"offset",
"length", "shape", "labels"}], "numClasses", "settings": {"rho", "rhoL2",
"iterations", "variants"}} and <folder>/data.bin (float32, little-endian).
The model is the engine's GraphNet of the graph with the TF.js weights
(tfjs kernels are [in, out], torch's Linear weights [out, in]). Prints one
JSON object: {"values": [{"variant", "value", "loss", "examples"}]}.
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from sgd_studio_torch.models import build_model  # noqa: E402
from sgd_studio_torch.sharpness import measure  # noqa: E402


def main():
    folder = sys.argv[1]
    with open(f"{folder}/manifest.json") as f:
        manifest = json.load(f)
    data = np.fromfile(f"{folder}/data.bin", dtype="<f4")

    def tensor(entry):
        a = data[entry["offset"] : entry["offset"] + entry["length"]]
        return torch.from_numpy(a.copy()).reshape(entry["shape"])

    torch.set_num_threads(1)
    model = build_model(manifest["graph"], 0)
    params = [p for p in model.parameters() if p.requires_grad]
    weights = [tensor(w) for w in manifest["weights"]]
    assert len(params) == len(weights), (len(params), len(weights))
    with torch.no_grad():
        for p, w in zip(params, weights):
            p.copy_(w.t() if w.dim() == 2 else w)
    # The mlp flattens NHWC rows as they are (as the engine feeds it, worker.py model_input).
    batches = [
        (tensor(b), torch.tensor(b["labels"], dtype=torch.long)) for b in manifest["batches"]
    ]
    out = measure(model, batches, manifest["settings"])
    print(json.dumps({"values": out, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
