// `sgd-studio sharpness <run>`: an mlp trained on the embedded data with a large constant LR and
// one with a small LR, each measured on demand: a number and its settings, as text and as JSON.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "./main.js";

async function run(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

const home = mkdtempSync(join(tmpdir(), "cli-sharpness-"));
// Never touch the user's real library.
process.env.SGD_STUDIO_HOME = home;
afterAll(() => rmSync(home, { recursive: true, force: true }));

function constant(lr: number): string {
  const file = join(home, `constant-${lr}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      name: `constant-lr-${lr}`,
      epochs: 2,
      lr: { kind: "constant", lr },
      batch: { kind: "constant", size: 32 },
    }),
  );
  return file;
}

async function train(lr: number): Promise<string> {
  const { code, out } = await run(
    "train",
    "--model",
    "mlp",
    "--schedule",
    constant(lr),
    "--backend",
    "cpu",
    "--train-limit",
    "300",
    "--home",
    home,
    "--json",
  );
  expect(code).toBe(0);
  const line = out
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; id?: string })
    .find((e) => e.type === "run");
  return line?.id as string;
}

describe("sgd-studio sharpness", () => {
  it("measures a large-LR and a small-LR run: a number with its settings; --json; recorded", async () => {
    const large = await train(0.15);
    const small = await train(0.01);
    const text = await run(
      "sharpness",
      large,
      "--iters",
      "5",
      "--examples",
      "128",
      "--batch",
      "64",
      "--home",
      home,
    );
    expect(text.err).toBe("");
    expect(text.code).toBe(0);
    expect(text.out).toContain(`run ${large}: sharpness of the model after epoch 2 on cpu`);
    expect(text.out).toMatch(
      /^sharpness = \d\.\d+(e-\d+)? {2}\(\|\|d\/\|w\|\|\|_inf <= 0\.0002, 5 iterations, 128 examples \(batch 64\), seed 0\)$/m,
    );
    expect(text.out).toMatch(/^sharpnessL2 = [\d.e-]+ {2}\(\|\|d\|\|_2 <= 0\.05, 5 iterations/m);
    expect(text.out).toMatch(
      /^sharpnessOneStep = [\d.e-]+ {2}\(\|\|d\/\|w\|\|\|_inf <= 0\.0002, 1 iteration,/m,
    );

    const json = await run(
      "sharpness",
      small,
      "--rho",
      "0.0005",
      "--iters",
      "5",
      "--examples",
      "128",
      "--batch",
      "64",
      "--variants",
      "adaptive",
      "--json",
      "--home",
      home,
    );
    expect(json.code).toBe(0);
    const result = JSON.parse(json.out);
    expect(result).toMatchObject({ id: small, epoch: 1, backend: "cpu" });
    expect(result.values).toHaveLength(1);
    expect(result.values[0]).toMatchObject({
      key: "sharpness",
      norm: "linf",
      adaptive: true,
      rho: 0.0005,
      iterations: 5,
      examples: 128,
      batchSize: 64,
      seed: 0,
    });
    expect(result.values[0].value).toBeGreaterThan(0);

    // Recorded in the library: runs show lists the metric.
    const show = await run("runs", "show", small, "--home", home);
    expect(show.out).toMatch(/^\s*sharpness\s+1\s/m);
  });

  it("train --sharpness measures the final model at the end of training, with the defaults", async () => {
    const { code, out } = await run(
      "train",
      "--model",
      "mlp",
      "--schedule",
      constant(0.05),
      "--epochs",
      "1",
      "--backend",
      "cpu",
      "--train-limit",
      "64",
      "--sharpness",
      "--home",
      home,
      "--json",
    );
    expect(code).toBe(0);
    const events = out
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const measured = events.find((e) => e.type === "sharpness" && e.values);
    expect(measured).toMatchObject({ epoch: 0, when: "end", backend: "cpu" });
    // The defaults, on a training set of 64 images: one batch of 64.
    expect(
      measured.values.map((v: Record<string, unknown>) => [v.key, v.rho, v.iterations, v.examples]),
    ).toEqual([
      ["sharpness", 0.0002, 20, 64],
      ["sharpnessL2", 0.05, 20, 64],
      ["sharpnessOneStep", 0.0002, 1, 64],
    ]);
    expect(events.indexOf(measured)).toBeLessThan(events.findIndex((e) => e.type === "summary"));
  });

  it("says what is wrong: bad flags exit 2, unknown runs exit 1", async () => {
    const bad = await run("sharpness", "x", "--rho", "-1", "--home", home);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--rho must be a number > 0");
    const variants = await run("sharpness", "x", "--variants", "up", "--home", home);
    expect(variants.code).toBe(2);
    expect(variants.err).toContain("--variants takes adaptive, l2, one-step");
    const missing = await run("sharpness", "no-such-run", "--home", home);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no-such-run/);
  });
});
