"""Where the training loop's time goes, for benchmarks (bench/torch-engine.ts).

With SGD_STUDIO_TORCH_PHASES=<file> the worker appends one JSON line per
reported window of steps (the same windows as its "steps" messages):

  {"first": 40, "steps": 10, "images": 1280, "wall": 0.31, "cpu": 0.30,
   "phases": {"data": 0.002, "step": 0.30, "report": 0.001, "control": 0.0}}

wall: seconds from the end of the previous window to the end of this one
(what the run's throughput is computed from); cpu: the process's CPU
seconds over the same span (all its threads: robust to a neighbour taking
the cores, which wall time is not); phases: wall seconds per part of the
loop: data (gather, augment, normalise, to the device), step (forward,
backward, metrics on the device, update), report (one read-back of the
window's scalars and the message to Node), control (pause/stop checks and
the tests' step delay). On a GPU the step's kernels are asynchronous, so
their time shows up in report (the read-back waits for them).

Unset (always, outside benchmarks), every call is a no-op.
"""
import json
import os
import time

ENV = "SGD_STUDIO_TORCH_PHASES"
NAMES = ("control", "data", "step", "report")


class Phases:
    def __init__(self, path):
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the worker
        self._wall = dict.fromkeys(NAMES, 0.0)
        self._last = time.perf_counter()
        self._start = self._last
        self._cpu = time.process_time()

    def start(self):
        """A window starts now (the start of an epoch's steps, or after a pause)."""
        self._wall = dict.fromkeys(NAMES, 0.0)
        self._last = self._start = time.perf_counter()
        self._cpu = time.process_time()

    def lap(self, name):
        """The time since the last lap was spent in `name`."""
        now = time.perf_counter()
        self._wall[name] += now - self._last
        self._last = now

    def window(self, first, steps, images):
        """Writes the window that ends now (its report phase included) and starts the next."""
        self.lap("report")
        line = {"first": first, "steps": steps, "images": images, "wall": self._last - self._start,
                "cpu": time.process_time() - self._cpu, "phases": self._wall}
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
        self.start()


class NoPhases:
    def start(self):
        pass

    def lap(self, name):
        pass

    def window(self, first, steps, images):
        pass


def from_env():
    path = os.environ.get(ENV)
    return Phases(path) if path else NoPhases()
