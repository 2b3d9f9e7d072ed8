import { describe, expect, it } from "vitest";
import { History } from "./history";

describe("History (undo/redo)", () => {
  it("undoes and redoes committed steps; a new step clears the redo stack", () => {
    const h = new History(0);
    h.commit(1);
    h.commit(2);
    expect(h.present).toBe(2);
    expect(h.undo()).toBe(true);
    expect(h.present).toBe(1);
    expect(h.canRedo).toBe(true);
    expect(h.redo()).toBe(true);
    expect(h.present).toBe(2);
    h.undo();
    h.commit(5);
    expect(h.canRedo).toBe(false);
    expect(h.redo()).toBe(false);
    h.undo();
    h.undo();
    expect(h.present).toBe(0);
    expect(h.undo()).toBe(false);
    expect(h.canUndo).toBe(false);
  });

  it("records a gesture (many previews) as one step", () => {
    const h = new History("a");
    h.preview("b");
    h.preview("c");
    h.preview("d");
    expect(h.present).toBe("d");
    expect(h.pending).toBe(true);
    expect(h.canUndo).toBe(true);
    h.commit();
    expect(h.pending).toBe(false);
    h.undo();
    expect(h.present).toBe("a");
    h.redo();
    expect(h.present).toBe("d");
  });

  it("a commit with a value ends the gesture at that value", () => {
    const h = new History(1);
    h.preview(2);
    h.commit(3);
    expect(h.present).toBe(3);
    h.undo();
    expect(h.present).toBe(1);
  });

  it("cancel returns to where the gesture started; undo during a gesture commits it first", () => {
    const h = new History(1);
    h.preview(2);
    h.cancel();
    expect(h.present).toBe(1);
    expect(h.canUndo).toBe(false);
    h.preview(7);
    expect(h.undo()).toBe(true);
    expect(h.present).toBe(1);
    expect(h.redo()).toBe(true);
    expect(h.present).toBe(7);
  });

  it("does not record steps that change nothing (structural equality)", () => {
    const h = new History({ a: 1 }, 10, (x, y) => JSON.stringify(x) === JSON.stringify(y));
    h.commit({ a: 1 });
    expect(h.canUndo).toBe(false);
    h.preview({ a: 2 });
    h.preview({ a: 1 });
    h.commit();
    expect(h.canUndo).toBe(false);
  });

  it("keeps at most `limit` steps", () => {
    const h = new History(0, 3);
    for (let i = 1; i <= 10; i++) h.commit(i);
    let n = 0;
    while (h.undo()) n++;
    expect(n).toBe(3);
    expect(h.present).toBe(7);
  });

  it("reset forgets everything", () => {
    const h = new History(0);
    h.commit(1);
    h.reset(9);
    expect(h.present).toBe(9);
    expect(h.canUndo || h.canRedo).toBe(false);
  });
});
