/**
 * Done 4 of the run-lifecycle issue: `sgd-studio train --epochs 6` SIGKILLed
 * at several moments (in the first, a middle and the last epoch, around a
 * checkpoint, before the first step), resumed each time with
 * `train --resume <id>`: every epoch has its step rows and its test accuracy,
 * no step twice, and the loss trajectory equals an uninterrupted run's on the
 * same backend.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, look, rows, stepsPerEpoch, tempHome, until } from "./hosts.js";

/** 300 images in batches of 16: 19 steps per epoch, so a kill can land inside an epoch. */
const SCHEDULE = {
  version: 1,
  name: "kill-test",
  epochs: 6,
  lr: { kind: "step", lr: 0.05, stepSize: 2, gamma: 0.5 },
  batch: { kind: "constant", size: 16 },
};

function args(home: string, schedule: string): string[] {
  return [
    "train",
    "--home",
    home,
    "--schedule",
    schedule,
    "--epochs",
    "6",
    "--backend",
    "cpu",
    "--train-limit",
    "300",
    "--seed",
    "4",
    "--json",
  ];
}

type Line = { type: string; step?: number; epoch?: number; id?: string };
const lines = (out: string): Line[] =>
  out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);

/** Kill moments: a predicate on the events printed so far. */
const MOMENTS: [string, (seen: Line[]) => boolean][] = [
  ["at start, before any step", (s) => s.some((e) => e.type === "start")],
  [
    "mid first epoch",
    (s) => s.some((e) => e.type === "step" && e.epoch === 0 && (e.step ?? 0) >= 9),
  ],
  [
    "right after a checkpoint (epoch 2)",
    (s) => s.some((e) => e.type === "checkpoint" && e.epoch === 1),
  ],
  ["mid middle epoch", (s) => s.some((e) => e.type === "step" && e.epoch === 3)],
  ["right after an epoch's metrics", (s) => s.some((e) => e.type === "epoch" && e.epoch === 4)],
  ["mid last epoch", (s) => s.some((e) => e.type === "step" && e.epoch === 5)],
];

describe("train SIGKILLed at many moments, resumed each time", () => {
  it("ends with every epoch's rows and the same losses as an uninterrupted run", async () => {
    const home = tempHome("kill-train-");
    const schedule = join(home, "schedule.json");
    writeFileSync(schedule, JSON.stringify(SCHEDULE));

    const ref = cli(args(home, schedule));
    expect((await ref.exited).code).toBe(0);
    const refId = lines(ref.out())[0]?.id as string;

    let id: string | null = null;
    const killedAt: string[] = [];
    for (const [name, when] of MOMENTS) {
      const p = cli(
        id ? ["train", "--resume", id, "--home", home, "--json"] : args(home, schedule),
      );
      const hit = await until(
        () => {
          const seen = lines(p.out());
          if (when(seen)) return "hit";
          return seen.some((e) => e.type === "summary") ? "finished" : null;
        },
        `moment "${name}"`,
        60_000,
      );
      id ??= lines(p.out())[0]?.id as string;
      p.kill("SIGKILL");
      await p.exited;
      if (hit === "hit") killedAt.push(name);
    }
    expect(killedAt.length).toBeGreaterThanOrEqual(5);
    // The library sees the killed host and offers the run for resuming.
    const last = cli(["train", "--resume", id as string, "--home", home, "--json"]);
    const done = await last.exited;
    expect(last.err()).toBe("");
    expect(done.code).toBe(0);

    const run = look(home, (s) => s.getRun(id as string));
    expect(run.status).toBe("completed");
    expect(run.attempt).toBe(MOMENTS.length + 1);
    const perEpoch = stepsPerEpoch(home, id as string);
    expect(perEpoch).toEqual(stepsPerEpoch(home, refId));
    expect([...perEpoch.keys()]).toEqual([0, 1, 2, 3, 4, 5]);
    expect(stepsPerEpoch(home, id as string, "testAccuracy").size).toBe(6);
    const losses = (rid: string) => rows(home, rid).filter((r) => r.key === "loss");
    const got = losses(id as string);
    expect(got.map((r) => r.step)).toEqual(got.map((_, i) => i)); // every step once, in order
    expect(got).toEqual(losses(refId));
    const acc = (rid: string) => rows(home, rid).filter((r) => r.key === "testAccuracy");
    expect(acc(id as string)).toEqual(acc(refId));
  });
});
