"""`python -m sgd_studio_torch --probe`: one JSON line describing torch here
(version, devices, speed features), for interpreter discovery and `doctor`."""
import json
import platform
import sys


def describe():
    import numpy
    import torch

    cuda = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            cuda.append({"index": i, "name": p.name, "memory": p.total_memory,
                         "capability": f"{p.major}.{p.minor}"})
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return {
        "ok": True,
        "python": sys.executable,
        "pythonVersion": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        # ROCm builds report their HIP version and use the cuda device type.
        "hip": getattr(torch.version, "hip", None),
        "cudaVersion": torch.version.cuda,
        "cuda": cuda,
        "mps": mps,
        "threads": torch.get_num_threads(),
        "compile": hasattr(torch, "compile"),
        "cpuBf16": True,
    }


def main():
    try:
        out = describe()
    except Exception as e:  # noqa: BLE001 - the probe reports any failure as data
        out = {"ok": False, "python": sys.executable, "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
