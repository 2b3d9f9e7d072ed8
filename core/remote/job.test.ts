/**
 * The worker's check of a job payload (job.ts): what a valid job becomes, and
 * the refusals of malicious or broken payloads, each saying what is wrong.
 */
import { describe, expect, it } from "vitest";
import { checkJob, JobRefused } from "./job.js";

const ROOT = "/srv/worker-data";
const CKPT = "/srv/worker-data/remote-jobs/x/checkpoints";
const spec = (extra: Record<string, unknown> = {}) => ({
  dataset: "default",
  model: "mlp",
  schedule: {
    version: 1,
    epochs: 2,
    lr: { kind: "constant", lr: 0.05 },
    batch: { kind: "constant", size: 16 },
  },
  epochs: 2,
  ...extra,
});
const job = (s: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  v: 1,
  runId: "20261205-070000-abcdef",
  attempt: 1,
  spec: s,
  ...extra,
});

function refusal(payload: unknown): string {
  try {
    checkJob(payload, ROOT, CKPT);
  } catch (err) {
    expect(err).toBeInstanceOf(JobRefused);
    return (err as Error).message;
  }
  throw new Error("the payload was accepted");
}

describe("checkJob", () => {
  it("accepts a valid job: checkpoints in the worker's folder, dataDir resolved inside its data folder", () => {
    const { job: j, spec: s } = checkJob(job(spec({ dataDir: "datasets" })), ROOT, CKPT);
    expect(j.runId).toBe("20261205-070000-abcdef");
    expect(s.checkpointDir).toBe(CKPT);
    expect(s.dataDir).toBe("/srv/worker-data/datasets");
    expect(s.optimizer.kind).toBe("sgd"); // defaults applied by the same schema as the library's
    expect(checkJob(job(spec()), ROOT, CKPT).spec.dataDir).toBeUndefined();
  });

  it("refuses paths: dataset paths, dataDir outside the data folder, any checkpointDir", () => {
    expect(refusal(job(spec({ dataset: "../../etc" })))).toMatch(
      /spec\.dataset: "\.\.\/\.\.\/etc" is not one of default/,
    );
    expect(refusal(job(spec({ dataset: "/etc/passwd" })))).toMatch(
      /named datasets only \(no paths\)/,
    );
    expect(refusal(job(spec({ dataDir: "../../../etc" })))).toMatch(
      /spec\.dataDir: .* is outside this worker's data folder \(\/srv\/worker-data\)/,
    );
    expect(refusal(job(spec({ dataDir: "/etc" })))).toMatch(/outside this worker's data folder/);
    expect(refusal(job(spec({ dataDir: 42 })))).toMatch(/spec\.dataDir/);
    expect(refusal(job(spec({ checkpointDir: "/tmp/evil" })))).toMatch(
      /spec\.checkpointDir: a job may not say where checkpoints go/,
    );
  });

  it("refuses oversized runs and broken schedules with the library's own limits", () => {
    expect(refusal(job(spec({ epochs: 1e9 })))).toMatch(/epochs must be at most 100,000/);
    expect(
      refusal(job(spec({ schedule: { version: 1, epochs: 2, lr: { kind: "nope" } } }))),
    ).toMatch(/^spec\.schedule:/);
    expect(refusal(job(spec({ model: "" })))).toMatch(/^spec\.model/);
  });

  it("refuses anything but the job format: unknown fields, bad run ids, huge payloads", () => {
    expect(refusal(job(spec(), { command: "rm -rf /" }))).toMatch(
      /job: .*command|Unrecognized key/,
    );
    expect(refusal(job(spec({ exec: "sh" })))).toMatch(/exec/);
    expect(refusal(job(spec(), { runId: "../../x" }))).toMatch(/runId must be a library run id/);
    expect(refusal(job(spec(), { v: 2 }))).toMatch(/v must be 1/);
    expect(refusal(null)).toMatch(/^job:/);
    expect(refusal(job(spec({ noiseDirectEpochs: Array(200_000).fill(1) })))).toMatch(
      /a run spec has at most/,
    );
  });
});
