import { describe, expect, it } from "vitest";
import { EtaEstimator } from "./eta";

/** A run of `epochs` x `perEpoch` steps of `stepTime` s each, `evalTime` s of evaluation after each epoch. */
function simulate(opts: {
  epochs: number;
  perEpoch: number;
  stepTime: number;
  evalTime: number;
  pauseAt?: number;
  pauseFor?: number;
}) {
  const events: { step: number; epoch: number; t: number }[] = [];
  let t = 0;
  let k = 0;
  for (let e = 0; e < opts.epochs; e++) {
    for (let i = 0; i < opts.perEpoch; i++, k++) {
      if (k === opts.pauseAt) t += opts.pauseFor ?? 0;
      t += opts.stepTime;
      events.push({ step: k, epoch: e, t });
    }
    t += opts.evalTime;
  }
  return { events, end: t, total: k };
}

describe("EtaEstimator", () => {
  const run = { epochs: 10, perEpoch: 50, stepTime: 0.02, evalTime: 0.3 };

  it("from a known step time and evaluation time, the remaining time to within 1%", () => {
    const { events, end, total } = simulate(run);
    const eta = new EtaEstimator();
    for (const ev of events) {
      eta.step(ev.step, ev.epoch, ev.t);
      if (ev.step >= total / 10 && ev.step % 25 === 0) {
        const got = eta.remaining({
          step: ev.step + 1,
          totalSteps: total,
          epoch: ev.epoch,
          totalEpochs: run.epochs,
        });
        expect(got).not.toBeNull();
        const truth = end - ev.t;
        expect(Math.abs((got as number) - truth) / truth).toBeLessThan(0.01);
      }
    }
  });

  it("leaves a pause out of the rate", () => {
    const { events, end, total } = simulate({ ...run, pauseAt: 60, pauseFor: 30 });
    const eta = new EtaEstimator();
    for (const ev of events) {
      if (ev.step === 60) eta.interrupt(true); // paused, then resumed before this step
      eta.step(ev.step, ev.epoch, ev.t);
    }
    const at = events[200] as (typeof events)[number];
    const e2 = new EtaEstimator();
    for (const ev of events.slice(0, 201)) {
      if (ev.step === 60) e2.interrupt(true);
      e2.step(ev.step, ev.epoch, ev.t);
    }
    const got = e2.remaining({ step: 201, totalSteps: total, epoch: at.epoch, totalEpochs: 10 });
    const truth = end - at.t;
    expect(Math.abs((got as number) - truth) / truth).toBeLessThan(0.01);
  });

  it("has no ETA while paused or stopped, nor before a few steps, nor after reset", () => {
    const eta = new EtaEstimator();
    const p = { step: 2, totalSteps: 100, epoch: 0, totalEpochs: 2 };
    eta.step(0, 0, 0);
    eta.step(1, 0, 0.1);
    expect(eta.remaining(p)).toBeNull();
    for (let k = 2; k < 10; k++) eta.step(k, 0, k * 0.1);
    expect(eta.remaining({ ...p, step: 10 })).toBeCloseTo(90 * 0.1, 9);
    eta.interrupt(false);
    expect(eta.remaining({ ...p, step: 10 })).toBeNull();
    eta.step(10, 0, 100); // resumed: the 99 s gap is not a step
    eta.step(11, 0, 100.1);
    expect(eta.remaining({ ...p, step: 12 })).toBeCloseTo(88 * 0.1, 9);
    eta.reset();
    expect(eta.remaining({ ...p, step: 12 })).toBeNull();
  });
});
