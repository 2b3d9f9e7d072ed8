import { describe, expect, it } from "vitest";
import {
  incompleteBeta,
  meanInterval,
  normalQuantile,
  rateDifference,
  tCdf,
  tQuantile,
  wilson,
} from "./stats.js";

describe("confidence intervals", () => {
  it("normal and t quantiles match the tables", () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 8);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306, 7);
    expect(tQuantile(0.975, 1)).toBeCloseTo(12.7062, 3);
    expect(tQuantile(0.975, 2)).toBeCloseTo(4.3027, 3);
    expect(tQuantile(0.975, 10)).toBeCloseTo(2.2281, 4);
    expect(tQuantile(0.975, 30)).toBeCloseTo(2.0423, 4);
    expect(tQuantile(0.995, 5)).toBeCloseTo(4.0321, 4);
    expect(tQuantile(0.975, 199)).toBeCloseTo(1.972, 4);
    expect(tQuantile(0.025, 10)).toBeCloseTo(-2.2281, 4);
    expect(tCdf(0, 7)).toBeCloseTo(0.5, 12);
    expect(incompleteBeta(0.3, 2, 3)).toBeCloseTo(0.3483, 4);
  });

  it("Wilson's interval matches published examples", () => {
    // Newcombe (1998), table I: 0/10 -> [0, 0.2775]; 1/29 -> [0.0061, 0.1718]; 81/263 -> [0.2553, 0.3662].
    const a = wilson(0, 10);
    expect(a.lo).toBe(0);
    expect(a.hi).toBeCloseTo(0.2775, 4);
    const b = wilson(1, 29);
    expect(b.lo).toBeCloseTo(0.0061, 4);
    expect(b.hi).toBeCloseTo(0.1718, 4);
    const c = wilson(81, 263);
    expect(c.rate).toBeCloseTo(81 / 263, 12);
    expect(c.lo).toBeCloseTo(0.2553, 4);
    expect(c.hi).toBeCloseTo(0.3662, 4);
  });

  it("Newcombe's interval for a difference matches his example", () => {
    // Newcombe (1998b), method 10: 56/70 - 48/80 = 0.2, CI [0.0524, 0.3339].
    const d = rateDifference(56, 70, 48, 80);
    expect(d.diff).toBeCloseTo(0.2, 12);
    expect(d.lo).toBeCloseTo(0.0524, 4);
    expect(d.hi).toBeCloseTo(0.3339, 4);
  });

  it("the t interval of a mean", () => {
    const m = meanInterval([1, 2, 3, 4, 5]);
    expect(m.mean).toBe(3);
    expect(m.sd).toBeCloseTo(Math.sqrt(2.5), 12);
    const half = (2.7764451 * Math.sqrt(2.5)) / Math.sqrt(5);
    expect(m.lo).toBeCloseTo(3 - half, 5);
    expect(m.hi).toBeCloseTo(3 + half, 5);
    expect(Number.isNaN(meanInterval([7]).lo)).toBe(true);
  });
});
