/**
 * Issue 13, in CI: a small fault matrix (bench/fault-matrix.ts, the same code
 * as bench/fault-matrix.bench.ts). The host (`sgd-studio train` or `serve`)
 * and its training worker are each SIGKILLed at three moments of 3-epoch
 * runs (mid-epoch, around an epoch's end, near the end), recovered as a user
 * would (train --resume, a restarted serve host, runs.resume), and the
 * libraries are checked: no run lost, no metric gap against an uninterrupted
 * reference run, no duplicate row, integrity_check ok.
 */
import { describe, expect, it } from "vitest";
import { formatReport, passed, runFaultMatrix } from "../../bench/fault-matrix.js";

describe("the fault matrix, small", () => {
  it("6 SIGKILLs (host and worker, 3 moments each): runs lost 0, metric gaps 0, duplicate rows 0", async () => {
    const lines: string[] = [];
    const result = await runFaultMatrix({
      faults: 6,
      seed: 13,
      moments: ["mid-epoch", "epoch-end", "near-end"],
      specs: [{ seed: 7, epochs: 3 }],
      log: (line) => lines.push(line),
    });
    const report = formatReport(result);
    if (!passed(result)) console.log(`${lines.join("\n")}\n${report}`);
    expect(result.faults).toHaveLength(6);
    for (const kind of ["host", "worker"])
      for (const moment of ["mid-epoch", "epoch-end", "near-end"])
        expect(
          result.faults.filter((f) => f.kind === kind && f.moment === moment),
          `${kind} ${moment}`,
        ).toHaveLength(1);
    expect(result.integrity.map((i) => i.result)).toEqual(result.integrity.map(() => "ok"));
    expect(result.totals).toEqual({ runsLost: 0, metricGaps: 0, duplicateRows: 0 });
    expect(report).toContain("runs lost 0, metric gaps 0, duplicate rows 0");
  }, 240_000);
});
