"""Entry point: `python -m sgd_studio_torch` (the worker) or `--probe` (doctor)."""
import sys

if __name__ == "__main__":
    if "--probe" in sys.argv[1:]:
        from .probe import main as probe_main

        probe_main()
    else:
        from .worker import main

        main()
