import { describe, expect, it } from "vitest";
import { DEFAULT_SCHEDULE_NAMES } from "../../../core/landscape/experiment";
import { DEFAULT_LANDSCAPE_SCHEDULES, designerName, landscapeSchedules } from "./table";

describe("the landscape view's schedules", () => {
  it("the default set is the service's", () => {
    expect(DEFAULT_LANDSCAPE_SCHEDULES).toEqual([...DEFAULT_SCHEDULE_NAMES]);
  });

  it("the Designer's schedule joins it under a name no preset has", () => {
    const doc = { version: 1, name: "paper-hybrid", epochs: 10 };
    const list = landscapeSchedules(doc);
    expect(list).toHaveLength(DEFAULT_SCHEDULE_NAMES.length + 1);
    expect(list.at(-1)).toEqual({ ...doc, name: "designer: paper-hybrid" });
    expect(designerName({})).toBe("designer: untitled");
  });
});
