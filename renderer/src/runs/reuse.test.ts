import { describe, expect, it } from "vitest";
import { reuseUnchanged, sameJson } from "./reuse";
import type { Run } from "./types";

const run = (id: string, epochs: number): Run =>
  ({
    id,
    status: "completed",
    spec: { model: "mlp", lr: [0.1, 0.01] },
    final: { epochs },
  }) as unknown as Run;

describe("sameJson", () => {
  it("tells equal JSON values from unequal ones, however deep", () => {
    expect(sameJson({ a: [1, { b: null }], c: "x" }, { c: "x", a: [1, { b: null }] })).toBe(true);
    expect(sameJson({ a: [1, { b: null }] }, { a: [1, { b: 0 }] })).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    expect(sameJson([1, 2], { 0: 1, 1: 2 })).toBe(false);
    expect(sameJson([1, 2], [1, 2, 3])).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson("1", 1)).toBe(false);
  });
});

describe("reuseUnchanged", () => {
  it("keeps the old array when nothing changed, and the old object of each unchanged run", () => {
    const old = [run("b", 2), run("a", 1)];
    const same = reuseUnchanged(old, [run("b", 2), run("a", 1)]);
    expect(same).toBe(old);
    const fresh = [run("c", 0), run("b", 3), run("a", 1)];
    const next = reuseUnchanged(old, fresh);
    expect(next).not.toBe(old);
    expect(next[0]).toBe(fresh[0]);
    expect(next[1]).toBe(fresh[1]);
    expect(next[1]?.final).toEqual({ epochs: 3 });
    expect(next[2]).toBe(old[1]);
  });

  it("gives a new array when only the order changed", () => {
    const old = [run("b", 2), run("a", 1)];
    const next = reuseUnchanged(old, [run("a", 1), run("b", 2)]);
    expect(next).not.toBe(old);
    expect(next[0]).toBe(old[1]);
    expect(next[1]).toBe(old[0]);
  });
});
