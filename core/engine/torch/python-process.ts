/**
 * The Python side of the torch engine as a child process: JSON lines both
 * ways over stdio, binary arrays after a line that announces their sizes
 * (python/sgd_studio_torch/protocol.py). Python's stderr is passed through
 * to this process's stderr, so the supervisor's tail shows its tracebacks.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { trainingEnv } from "./python.js";

export type PyMessage = { type: string; [key: string]: unknown };

export class PythonExited extends Error {
  constructor(
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string,
  ) {
    const last = stderr.trim().split("\n").slice(-1)[0] ?? "";
    super(
      signal
        ? `the torch engine's Python process was killed by ${signal}${signal === "SIGKILL" ? " (by a user or the system, e.g. its out-of-memory killer)" : ""}`
        : `the torch engine's Python process exited with code ${code}${last ? `: ${last}` : ""}`,
    );
    this.name = "PythonExited";
  }
}

export class PythonProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: PyMessage[] = [];
  private waiter: { resolve: (m: PyMessage) => void; reject: (e: Error) => void } | null = null;
  private ended: PythonExited | null = null;
  private stderr = "";

  constructor(python: string, env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(python, ["-u", "-m", "sgd_studio_torch"], {
      env: trainingEnv(env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8000);
      process.stderr.write(chunk);
    });
    // A closed pipe (Python gone) must not crash this process: the exit is reported instead.
    this.child.stdin.on("error", () => {});
    this.child.on("error", (err) => this.end(new PythonExited(null, null, String(err))));
    const lines = createInterface({ input: this.child.stdout });
    lines.on("line", (line) => {
      if (!line.trim()) return;
      let message: PyMessage;
      try {
        message = JSON.parse(line) as PyMessage;
      } catch {
        process.stderr.write(`torch engine: ignored a line that is not JSON: ${line}\n`);
        return;
      }
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve(message);
      } else this.queue.push(message);
    });
    // "close": the process ended and its stdout was read to the end.
    this.child.on("close", (code, signal) => this.end(new PythonExited(code, signal, this.stderr)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private end(err: PythonExited): void {
    if (this.ended) return;
    this.ended = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(err);
    }
  }

  /** Sends a message, with binary arrays after it. */
  async send(message: PyMessage, blobs: ArrayBufferView[] = []): Promise<void> {
    if (this.ended) throw this.ended;
    const line = `${JSON.stringify(blobs.length ? { ...message, blobs: blobs.map((b) => b.byteLength) } : message)}\n`;
    const parts: Buffer[] = [
      Buffer.from(line),
      ...blobs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
    ];
    // All parts are written at once (the stream buffers them), so a control
    // message sent meanwhile can never land between a line and its arrays.
    let full = false;
    for (const part of parts) full = !this.child.stdin.write(part) || full;
    if (full) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.child.stdin.off("drain", done);
          this.child.off("close", done);
          resolve();
        };
        this.child.stdin.once("drain", done);
        this.child.once("close", done);
      });
      if (this.ended) throw this.ended;
    }
  }

  /** The next message; rejects with PythonExited when the process ended first. */
  next(): Promise<PyMessage> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** A control message that acts at once (pause, resume, stop). */
  control(type: "pause" | "resume" | "stop"): void {
    if (!this.ended) this.child.stdin.write(`${JSON.stringify({ type })}\n`);
  }

  /** Closes stdin (Python exits when it sees the end) and waits for the exit. */
  async close(): Promise<void> {
    if (this.ended) return;
    const exited = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.ended) this.child.kill("SIGKILL");
  }
}
