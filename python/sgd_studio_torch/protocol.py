"""The stdio protocol with the Node driver (core/engine/torch/driver.ts).

One JSON object per line each way. A message may carry binary arrays: its
"blobs" field lists their byte lengths, and those bytes follow the line on
stdin, back to back (the dataset and each epoch's order travel this way).
pause / resume / stop act at once, from the reader thread; everything else
is queued for the training loop. When stdin closes the host is gone and the
process exits: an orphan must not train on without anyone recording it.
"""
import json
import os
import queue
import sys
import threading


class Channel:
    def __init__(self, stdin=None, stdout=None):
        self._in = stdin or sys.stdin.buffer
        self._out = stdout or sys.stdout
        self.messages = queue.Queue()
        self.paused = threading.Event()
        self.stopped = threading.Event()
        self._wake = threading.Condition()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="stdin-reader", daemon=True).start()

    def send(self, message):
        line = json.dumps(message, allow_nan=True)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def next(self):
        """The next queued message (blocks)."""
        return self.messages.get()

    def wait_while_paused(self):
        with self._wake:
            while self.paused.is_set() and not self.stopped.is_set():
                self._wake.wait(0.5)

    def _notify(self):
        with self._wake:
            self._wake.notify_all()

    def _read_exact(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self._in.readinto(view[got:])
            if not k:
                raise EOFError
            got += k
        return buf

    def _read(self):
        try:
            while True:
                line = self._in.readline()
                if not line:
                    raise EOFError
                if not line.strip():
                    continue
                message = json.loads(line)
                blobs = message.get("blobs")
                if blobs:
                    message["_blobs"] = [self._read_exact(n) for n in blobs]
                kind = message.get("type")
                if kind == "pause":
                    self.paused.set()
                elif kind == "resume":
                    self.paused.clear()
                    self._notify()
                elif kind == "stop":
                    self.stopped.set()
                    self.paused.clear()
                    self._notify()
                else:
                    self.messages.put(message)
        except (EOFError, OSError, ValueError):
            # The host closed our stdin (it ended or was killed): stop now.
            os._exit(0)
