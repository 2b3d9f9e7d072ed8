// Export (JSON, CSV) and import: round trips, duplicates, and files that must be refused.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreError } from "./errors.js";
import { syntheticRun, testSpec, writeTestCheckpoint } from "./fixtures.js";
import { libraryInternals, RunStore } from "./store.js";
import { CSV_HEADER, EXPORT_FORMAT, type ExportDocument } from "./transfer.js";

let dir = "";
let store: RunStore;
let other: RunStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "transfer-"));
  store = RunStore.open(join(dir, "a"));
  other = RunStore.open(join(dir, "b"));
});
afterEach(() => {
  store.close();
  other.close();
  rmSync(dir, { recursive: true, force: true });
});

function recordedRun(s: RunStore, finish: "completed" | "none" = "completed"): string {
  const run = s.createRun(testSpec());
  const rec = s.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
  const ckpt = run.checkpointDir as string;
  for (const e of syntheticRun({ epochs: 2, stepsPerEpoch: 10, checkpointDir: ckpt, finish })) {
    if (e.type === "checkpoint") writeTestCheckpoint(ckpt, e.epoch, 0);
    rec.record(e);
  }
  rec.close();
  return run.id;
}

const rows = (s: RunStore, id: string) =>
  libraryInternals(s)
    .db.prepare(
      "SELECT key, step, epoch, epochs_done, samples, wall_time, value FROM metric_values WHERE run_id = ? ORDER BY key, step",
    )
    .all(id);

describe("export and import", () => {
  it("round-trips runs: spec, environment, summary, tags, note and every metric", () => {
    const a = recordedRun(store);
    const b = recordedRun(store);
    store.tag(a, "baseline");
    store.setNote(a, "first try");
    const doc = store.exportRuns([a, b]);
    expect(doc.format).toBe(EXPORT_FORMAT);
    expect(doc.version).toBe(1);
    expect(doc.runs[0]?.metrics.loss?.step).toHaveLength(20);
    expect(JSON.stringify(doc)).not.toContain(join(dir, "a")); // no paths of this machine
    const result = other.importRuns(JSON.stringify(doc));
    expect(result.imported).toEqual([
      { id: a, from: a },
      { id: b, from: b },
    ]);
    const { checkpointDir, resumeEpoch, ...original } = store.getRun(a);
    const { checkpointDir: none, resumeEpoch: noResume, ...copy } = other.getRun(a);
    expect(checkpointDir).not.toBeNull();
    expect(resumeEpoch).toBe(1);
    expect(none).toBeNull(); // checkpoints stay behind
    expect(noResume).toBeNull();
    expect(copy).toEqual(original);
    expect(rows(other, a)).toEqual(rows(store, a));
    expect(rows(other, b)).toEqual(rows(store, b));
    expect(other.resumePoint(a)).toBeNull();
  });

  it("writes JSON and CSV files; the CSV has one line per scalar", () => {
    const a = recordedRun(store);
    const json = join(dir, "out.json");
    const csv = join(dir, "out.csv");
    expect(store.exportRunsToFile([a], "json", json)).toEqual({ runs: 1, rows: 20 * 6 + 5 + 6 });
    expect(store.exportRunsToFile([a], "csv", csv)).toEqual({ runs: 1, rows: 20 * 6 + 5 + 6 });
    expect(readdirSync(dir).filter((f) => f.includes(".tmp"))).toEqual([]);
    const lines = readFileSync(csv, "utf8").trimEnd().split("\n");
    expect(lines[0]).toBe(CSV_HEADER);
    expect(lines).toHaveLength(1 + 20 * 6 + 11);
    const loss0 = lines.find((l) => l.startsWith(`${a},loss,0,`));
    expect(loss0?.split(",").slice(0, 6)).toEqual([a, "loss", "0", "0", "0.1", "32"]);
    expect(Number(loss0?.split(",")[7])).toBe(1);
    const imported = other.importRuns(readFileSync(json, "utf8"));
    expect(imported.imported).toHaveLength(1);
  });

  it("refuses duplicates unless told to skip, replace or copy", () => {
    const a = recordedRun(store);
    const text = JSON.stringify(store.exportRuns([a]));
    other.importRuns(text);
    other.tag(a, "local");
    let err: unknown;
    try {
      other.importRuns(text);
    } catch (e) {
      err = e;
    }
    expect((err as StoreError).code).toBe("duplicate");
    expect((err as Error).message).toMatch(new RegExp(`already in the library: ${a}`));
    expect(other.listRuns()).toHaveLength(1);
    expect(other.importRuns(text, { duplicates: "skip" })).toEqual({
      imported: [],
      skipped: [a],
      replaced: [],
    });
    expect(other.importRuns(text, { duplicates: "replace" }).replaced).toEqual([a]);
    expect(other.getRun(a).tags).toEqual([]);
    const copy = other.importRuns(text, { duplicates: "copy" }).imported[0];
    expect(copy?.from).toBe(a);
    expect(copy?.id).not.toBe(a);
    expect(rows(other, copy?.id as string)).toEqual(rows(other, a));
    expect(other.listRuns()).toHaveLength(2);
  });

  it("imports a run that was training when exported as interrupted", () => {
    const a = recordedRun(store, "none");
    expect(store.getRun(a).status).toBe("running");
    other.importRuns(store.exportRuns([a]));
    expect(other.getRun(a).status).toBe("interrupted");
  });
});

describe("import refuses bad files and writes nothing", () => {
  let good: ExportDocument;
  let runId = "";
  beforeEach(() => {
    runId = recordedRun(store);
    good = store.exportRuns([runId]);
  });

  const variant = (
    edit: (doc: Record<string, unknown> & { runs: Record<string, unknown>[] }) => void,
  ) => {
    const doc = JSON.parse(JSON.stringify(good));
    edit(doc);
    return JSON.stringify(doc);
  };

  const refused = (input: string | unknown, message: RegExp) => {
    let err: unknown;
    try {
      other.importRuns(input);
    } catch (e) {
      err = e;
    }
    expect(err, "import should fail").toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(message);
    expect(other.listRuns()).toEqual([]);
    const n = (
      libraryInternals(other).db.prepare("SELECT count(*) AS n FROM metric_values").get() as {
        n: number;
      }
    ).n;
    expect(n).toBe(0);
  };

  it("truncated or empty JSON", () => {
    const text = JSON.stringify(good);
    refused(text.slice(0, Math.floor(text.length / 2)), /not valid JSON .*truncated/);
    refused("", /not valid JSON/);
    refused("[1,2]", /not an SGD Studio runs export/);
  });

  it("another format or a version this build does not read", () => {
    refused(
      variant((d) => {
        d.format = "something-else";
      }),
      /format is "something-else"/,
    );
    refused(
      variant((d) => {
        d.version = 2;
      }),
      /export version 2, newer than this build reads \(1\)/,
    );
    refused(
      variant((d) => {
        d.version = 0;
      }),
      /export version 0; this build reads version 1/,
    );
    refused(
      variant((d) => {
        delete d.version;
      }),
      /export version undefined/,
    );
  });

  it("missing or malformed fields, with the path of the problem", () => {
    refused(
      variant((d) => {
        delete d.runs[0]?.spec;
      }),
      /runs\[0\]\.spec/,
    );
    refused(
      variant((d) => {
        (d.runs[0] as { status: string }).status = "exploded";
      }),
      /runs\[0\]\.status/,
    );
    refused(
      variant((d) => {
        (d.runs[0] as { metrics: { loss: { value: number[] } } }).metrics.loss.value.pop();
      }),
      /runs\[0\]\.metrics\.loss: .*same length/,
    );
    refused(
      variant((d) => {
        (d.runs[0] as { spec: { model: string } }).spec.model = "";
      }),
      /runs\[0\]\.spec\.model/,
    );
    refused(
      variant((d) => {
        d.runs.push(d.runs[0] as Record<string, unknown>);
      }),
      /appears twice/,
    );
  });

  it("hostile ids and paths", () => {
    const outside = join(dir, "evil");
    for (const id of [
      "../../evil",
      "/etc/passwd",
      "a/b",
      "..",
      "",
      "x\u0000y",
      "a\\b",
      ".hidden",
    ]) {
      refused(
        variant((d) => {
          (d.runs[0] as { id: string }).id = id;
        }),
        /runs\[0\]\.id/,
      );
    }
    // A checkpoint folder in the spec is never used: the run comes in without one.
    other.importRuns(
      variant((d) => {
        (d.runs[0] as { spec: Record<string, unknown> }).spec.checkpointDir = outside;
      }),
    );
    const run = other.getRun(runId);
    expect(run.checkpointDir).toBeNull();
    expect(run.spec).not.toHaveProperty("checkpointDir");
    expect(existsSync(outside)).toBe(false);
    expect(readdirSync(join(dir, "b")).filter((f) => !f.startsWith("library.db"))).toEqual([]);
  });
});
