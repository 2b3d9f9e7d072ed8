/**
 * `train --resume <id> --epochs N` on a schedule relative to the run (a
 * preset): recompiling its whole shape for N epochs would show a schedule the
 * trained epochs never followed, so it is refused with the two choices;
 * `--keep-schedule` keeps the schedule as trained (its shape over the old
 * length, continued past its end), and then what the library holds, what the
 * stored spec compiles to and what was trained are one and the same.
 */
import { describe, expect, it } from "vitest";
import { compileSchedule } from "../../core/schedule/index.js";
import { cli, look, rows, tempHome, until } from "./hosts.js";

describe("train --resume --epochs on a run-relative schedule", () => {
  it("is refused with the two choices; --keep-schedule continues the schedule as trained", async () => {
    const home = tempHome("resume-length-");
    // 5 epochs, a stage each; steps of a known length, so that the stop lands in epoch 2 or 3.
    const slow = { SGD_STUDIO_TEST_STEP_DELAY_MS: "150" };
    const first = cli(
      [
        "train",
        ...["--home", home, "--schedule", "paper-lr-decay", "--epochs", "5"],
        ...["--backend", "cpu", "--train-limit", "640", "--json"],
      ],
      slow,
    );
    await until(
      () => first.out().split('"type":"checkpoint"').length > 2,
      "the second checkpoint",
      60_000,
    );
    first.kill("SIGINT");
    expect((await first.exited).code).toBe(0);
    const id = JSON.parse(first.out().split("\n")[0] as string).id as string;
    const trained = look(home, (s) => s.getRun(id));
    expect(trained.status).toBe("stopped");
    const epochsTrained = (trained.resumeEpoch as number) + 1;
    expect(epochsTrained).toBeGreaterThanOrEqual(2);
    expect(epochsTrained).toBeLessThan(5);
    const lrBefore = rows(home, id).filter((r) => r.key === "lr");

    // 8 epochs would make epoch 1 part of the first stage (LR 0.1), where it trained at 0.0707.
    const refused = cli(["train", "--resume", id, "--home", home, "--epochs", "8"]);
    expect((await refused.exited).code).toBe(2);
    expect(refused.err()).toMatch(/schedule is relative to the run's length/);
    expect(refused.err()).toMatch(/followed its shape over 5 epochs/);
    expect(refused.err()).toContain(`sgd-studio train --resume ${id} --epochs 8 --keep-schedule`);
    expect(refused.err()).toContain("sgd-studio train --schedule paper-lr-decay --epochs 8");
    // Nothing changed: the spec and the rows are as they were.
    expect(look(home, (s) => s.getRun(id).spec)).toEqual(trained.spec);
    expect(rows(home, id).filter((r) => r.key === "lr")).toEqual(lrBefore);

    const kept = cli([
      ...["train", "--resume", id, "--home", home, "--epochs", "8", "--keep-schedule", "--json"],
    ]);
    const done = await kept.exited;
    expect(kept.err()).toMatch(/the schedule stays as trained/);
    expect(done.code).toBe(0);
    const run = look(home, (s) => s.getRun(id));
    expect(run).toMatchObject({ status: "completed", lastEpoch: 7, plannedEpochs: 8 });
    // The stored schedule is in epoch time, its 5-epoch shape (a stage per epoch) kept.
    const schedule = run.spec.schedule as { version: number; time?: string; epochs: number };
    expect(schedule).toMatchObject({ version: 1, epochs: 5 });
    expect(schedule.time).toBeUndefined();
    expect(run.spec.epochs).toBe(8);
    // What the library shows (the stored spec compiled) is what was trained, every step.
    const compiled = compileSchedule(run.spec.schedule, {
      datasetSize: 640,
      epochs: run.spec.epochs,
      fit: run.spec.fit,
    });
    const lr = rows(home, id).filter((r) => r.key === "lr");
    expect(lr.map((r) => r.value)).toEqual(Array.from(compiled.steps.lr));
    // The epochs trained before the resume kept their values.
    expect(lr.slice(0, lrBefore.length)).toEqual(lrBefore);
    // And it differs from recompiling the preset for 5 epochs (what used to happen).
    const recompiled = compileSchedule(trained.spec.schedule, { datasetSize: 640, epochs: 8 });
    expect(Array.from(recompiled.steps.lr)).not.toEqual(lr.map((r) => r.value));
  }, 180_000);
});
