import { describe, expect, it } from "vitest";
import { createMenuInbox, type MenuCommand, menuCommandOf } from "./menu";

describe("the desktop File menu's events", () => {
  it("become the Designer's commands; other events are not commands", () => {
    expect(menuCommandOf({ type: "app.schedule-opened", name: "a.json", content: "{}" })).toEqual({
      type: "open",
      name: "a.json",
      content: "{}",
    });
    expect(menuCommandOf({ type: "app.menu", command: "schedule.save" })).toEqual({ type: "save" });
    expect(menuCommandOf({ type: "app.menu", command: "schedule.export-pytorch" })).toEqual({
      type: "export-pytorch",
    });
    expect(menuCommandOf({ type: "app.error", message: "x.json is not a file" })).toEqual({
      type: "error",
      message: "x.json is not a file",
    });
    expect(menuCommandOf({ type: "queue.changed", queue: [] })).toBeNull();
    expect(menuCommandOf({ type: "run.status", runId: "r", status: "running" })).toBeNull();
  });

  it("wait in the inbox until the Designer listens, then go straight to it", () => {
    const inbox = createMenuInbox();
    const got: MenuCommand[] = [];
    inbox.deliver({ type: "save" });
    inbox.deliver({ type: "open", name: "a.json", content: "1" });
    inbox.deliver({ type: "save" });
    const off = inbox.listen((c) => got.push(c));
    // Two Saves before the view showed are one; the order of the rest is kept.
    expect(got).toEqual([{ type: "open", name: "a.json", content: "1" }, { type: "save" }]);
    inbox.deliver({ type: "export-pytorch" });
    expect(got.at(-1)).toEqual({ type: "export-pytorch" });
    off();
    inbox.deliver({ type: "save" });
    expect(got).toHaveLength(3);
    const later: MenuCommand[] = [];
    inbox.listen((c) => later.push(c));
    expect(later).toEqual([{ type: "save" }]);
  });
});
