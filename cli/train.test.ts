// `sgd-studio train --json` end to end: a worker process trains on the embedded dataset.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./testing.js";

const run = runCli;

// Never touch the user's real library.
process.env.SGD_STUDIO_HOME = mkdtempSync(join(tmpdir(), "cli-train-home-"));

describe("sgd-studio train", () => {
  it("--json prints one event per line and a final summary with testAccuracy", async () => {
    const home = mkdtempSync(join(tmpdir(), "cli-train-"));
    const { code, out, err } = await run(
      "train",
      "--model",
      "mlp",
      "--schedule",
      "paper-lr-decay",
      "--epochs",
      "2",
      "--backend",
      "cpu",
      "--train-limit",
      "500",
      "--home",
      home,
      "--json",
    );
    expect(err).toBe("");
    expect(code).toBe(0);
    const events = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    // First the run's id in the library, then the training events.
    expect(events[0]).toMatchObject({ type: "run", id: expect.any(String) });
    expect(events[1].type).toBe("start");
    expect(events.filter((e) => e.type === "epoch")).toHaveLength(2);
    const summary = events.at(-1);
    expect(summary.type).toBe("summary");
    expect(summary.testAccuracy).toBeGreaterThan(0.3);
    // Checkpoints live in the run's folder in the library; only the newest is kept.
    const dir = join(home, "runs", events[0].id, "checkpoints");
    expect(readdirSync(dir).filter((n) => n.startsWith("epoch-"))).toEqual(["epoch-0001"]);
  });

  it("Ctrl-C (SIGINT) stops the run cleanly and keeps the last checkpoint", async () => {
    const home = mkdtempSync(join(tmpdir(), "cli-sigint-"));
    const child = spawn(
      process.execPath,
      [
        "bin/sgd-studio.js",
        "train",
        "--epochs",
        "50",
        "--backend",
        "cpu",
        "--train-limit",
        "300",
        "--home",
        home,
        "--json",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let signalled = false;
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (!signalled && out.includes('"type":"checkpoint"')) {
        signalled = true;
        child.kill("SIGINT");
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(0);
    const events = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const summary = events.at(-1);
    expect(summary).toMatchObject({ type: "summary", status: "stopped" });
    expect(summary.checkpoint).toMatch(/epoch-\d{4}$/);
    expect(events.filter((e) => e.type === "epoch").length).toBeLessThan(50);
    expect(readdirSync(join(home, "runs", events[0].id, "checkpoints"))).toContain("latest.json");
  });

  it("a bad schedule or model fails with the reason on stderr", async () => {
    const bad = await run("train", "--schedule", "nope", "--json");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/no schedule file or preset named "nope"/);
    const model = await run(
      "train",
      "--model",
      "vgg",
      "--backend",
      "cpu",
      "--epochs",
      "1",
      "--json",
    );
    expect(model.code).toBe(1);
    expect(model.err).toMatch(/Unknown model "vgg"/);
  });
});
