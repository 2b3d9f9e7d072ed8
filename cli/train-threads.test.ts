// `sgd-studio train --threads N`: the training worker runs the wasm backend on
// N threads and the run records them; a checkpoint resumes on another count.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WASM_THREADS_ENV } from "../core/engine/wasm-threads-setting.js";
import { runCli } from "./testing.js";

// Never touch the user's real library.
process.env.SGD_STUDIO_HOME = mkdtempSync(join(tmpdir(), "cli-threads-home-"));
const before = process.env[WASM_THREADS_ENV];
afterEach(() => {
  if (before === undefined) delete process.env[WASM_THREADS_ENV];
  else process.env[WASM_THREADS_ENV] = before;
});

const events = (out: string) =>
  out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { type: string; [k: string]: unknown });

describe("sgd-studio train --threads", () => {
  it("trains on that many wasm threads and records them; its checkpoint resumes on another count", async () => {
    const home = mkdtempSync(join(tmpdir(), "cli-threads-"));
    const args = ["--model", "mlp", "--backend", "wasm", "--train-limit", "200", "--home", home];
    const first = await runCli("train", ...args, "--epochs", "1", "--threads", "2", "--json");
    expect(first.code, first.err).toBe(0);
    const ev = events(first.out);
    const start = ev.find((e) => e.type === "start") as {
      numericPath: { wasmThreads: number };
      backendSummary: string;
    };
    expect(start.numericPath.wasmThreads).toBe(2);
    expect(start.backendSummary).toMatch(/wasm \(2 threads\)/);
    const id = (ev[0] as { id: string }).id;

    // A new run from the first one's checkpoint (made on 2 threads), on 1 thread.
    const checkpoint = join(home, "runs", id, "checkpoints", "epoch-0000");
    const again = await runCli(
      "train",
      ...args,
      "--resume",
      checkpoint,
      "--epochs",
      "2",
      "--threads",
      "1",
      "--json",
    );
    expect(again.code, `${again.err}\n${again.out}`).toBe(0);
    const resumed = events(again.out).find((e) => e.type === "start") as {
      numericPath: { wasmThreads: number };
      startEpoch: number;
    };
    expect(resumed.startEpoch).toBe(1);
    expect(resumed.numericPath.wasmThreads).toBe(1);
  }, 120_000);

  it("refuses a count that is not auto or a whole number", async () => {
    const r = await runCli("train", "--threads", "two", "--json");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--threads takes auto or a whole number >= 1/);
  });
});
