/**
 * `train --resume <id>` continues with the spec saved in the library; the
 * flags that do not change the run's identity override it (--backend,
 * --epochs) with a note, the others are ignored with a note.
 */
import { describe, expect, it } from "vitest";
import { cli, look, stepsPerEpoch, tempHome, until } from "./hosts.js";

describe("train --resume with flags", () => {
  it("--backend and --epochs change the rest of the run; --seed is ignored with a note", async () => {
    const home = tempHome("resume-override-");
    const first = cli([
      "train",
      "--home",
      home,
      "--epochs",
      "3",
      "--backend",
      "cpu",
      "--train-limit",
      "300",
      "--json",
    ]);
    await until(() => first.out().includes('"type":"checkpoint"'), "the first checkpoint");
    first.kill("SIGINT");
    expect((await first.exited).code).toBe(0);
    const id = JSON.parse(first.out().split("\n")[0] as string).id as string;
    expect(look(home, (s) => s.getRun(id).status)).toBe("stopped");

    const short = cli(["train", "--resume", id, "--home", home, "--epochs", "1"]);
    expect((await short.exited).code).toBe(2);
    expect(short.err()).toMatch(/has already trained \d+ epochs; give more than that/);

    const again = cli([
      "train",
      "--resume",
      id,
      "--home",
      home,
      "--epochs",
      "4",
      "--backend",
      "wasm",
      "--seed",
      "9",
      "--json",
    ]);
    const done = await again.exited;
    expect(again.err()).toMatch(/ignored: --seed/);
    expect(again.err()).toMatch(/resumes with --backend wasm and --epochs 4/);
    expect(done.code).toBe(0);
    const run = look(home, (s) => s.getRun(id));
    expect(run).toMatchObject({ status: "completed", backend: "wasm", lastEpoch: 3, seed: 0 });
    expect(run.spec).toMatchObject({ epochs: 4, backend: "wasm", seed: 0 });
    expect([...stepsPerEpoch(home, id, "testAccuracy").keys()]).toEqual([0, 1, 2, 3]);
  });
});
