import { describe, expect, it } from "vitest";
import { csvField, groupCsv, seriesCsv, toCsv } from "./csv";

describe("CSV export", () => {
  it("quotes fields that need it and leaves non-finite numbers empty", () => {
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField("line\nbreak")).toBe('"line\nbreak"');
    expect(csvField(Number.NaN)).toBe("");
    expect(csvField(0.1 + 0.2)).toBe("0.30000000000000004");
    expect(csvField(null)).toBe("");
    expect(toCsv(["a", "b"], [[1, "x"]])).toBe("a,b\n1,x\n");
  });

  it("writes raw and smoothed values per point, with the x axis when it is not the step", () => {
    const s = {
      runId: "r1",
      runName: "cosine, v2",
      key: "loss",
      xs: [32, 64],
      steps: [0, 1],
      values: [2, 1],
      smoothed: [2, 1.4],
    };
    expect(seriesCsv([s], "samples")).toBe(
      'run_id,run_name,key,step,samples,value,smoothed\nr1,"cosine, v2",loss,0,32,2,2\nr1,"cosine, v2",loss,1,64,1,1.4\n',
    );
    expect(seriesCsv([s], "step").split("\n")[0]).toBe("run_id,run_name,key,step,value,smoothed");
  });

  it("writes group means with their band", () => {
    const csv = groupCsv(
      [{ group: "g", key: "loss", runs: 2, x: [0], mean: [1], lo: [0.5], hi: [1.5], count: [2] }],
      "epoch",
      "std",
    );
    expect(csv).toBe(
      "group,key,epoch,mean,mean_minus_std,mean_plus_std,runs\ng,loss,0,1,0.5,1.5,2\n",
    );
  });
});
