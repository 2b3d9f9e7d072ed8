// Our optimizers against torch.optim on the same problem: a quadratic with
// gradient g = c * p + b, 6 steps with a different LR at each step.
import { spawnSync } from "node:child_process";
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "./backends.js";
import { AXPBY, fusedUpdateAvailable } from "./kernels/fused-update.js";
import { Optimizer, type OptimizerSpec } from "./optimizers.js";

const P0 = [1, -2, 3, 0.5];
const C = [1, 0.5, 2, 4];
const B = [0.1, -0.3, 0, 0.2];
const LRS = [0.1, 0.05, 0.2, 0.1, 0.01, 0.3];

const torchAvailable = spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;

/** Final parameters after the LR sequence, for each optimizer constructor, in one python run. */
function torchTrajectories(ctors: string[]): number[][] {
  const script = `
import json, torch
def run(make):
    p = torch.tensor(${JSON.stringify(P0)}, dtype=torch.float64, requires_grad=True)
    c = torch.tensor(${JSON.stringify(C)}, dtype=torch.float64)
    b = torch.tensor(${JSON.stringify(B)}, dtype=torch.float64)
    opt = make(p)
    for lr in ${JSON.stringify(LRS)}:
        for g in opt.param_groups: g["lr"] = lr
        opt.zero_grad()
        loss = (0.5 * c * p * p + b * p).sum()
        loss.backward()
        opt.step()
    return p.detach().tolist()
print(json.dumps([${ctors.map((c) => `run(lambda p: ${c})`).join(", ")}]))
`;
  const r = spawnSync("/usr/bin/python3", ["-c", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

async function ours(
  spec: Partial<OptimizerSpec> & { kind: OptimizerSpec["kind"] },
): Promise<number[]> {
  const p = tf.variable(tf.tensor1d(P0));
  const c = tf.tensor1d(C);
  const b = tf.tensor1d(B);
  const opt = new Optimizer(spec, [p]);
  for (const lr of LRS) {
    const g = tf.tidy(() => tf.add(tf.mul(c, p), b));
    opt.apply([g], lr);
    g.dispose();
  }
  const out = Array.from(await p.data());
  opt.dispose();
  tf.dispose([p, c, b]);
  return out;
}

const cases: [string, Partial<OptimizerSpec> & { kind: OptimizerSpec["kind"] }, string][] = [
  ["sgd", { kind: "sgd" }, "torch.optim.SGD([p], lr=0.1)"],
  [
    "sgd + weight decay",
    { kind: "sgd", weightDecay: 0.05 },
    "torch.optim.SGD([p], lr=0.1, weight_decay=0.05)",
  ],
  ["momentum", { kind: "momentum", momentum: 0.9 }, "torch.optim.SGD([p], lr=0.1, momentum=0.9)"],
  [
    "nesterov",
    { kind: "nesterov", momentum: 0.8, weightDecay: 0.01 },
    "torch.optim.SGD([p], lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.01)",
  ],
  ["adam", { kind: "adam" }, "torch.optim.Adam([p], lr=0.1)"],
  [
    "adamw",
    { kind: "adamw", weightDecay: 0.1 },
    "torch.optim.AdamW([p], lr=0.1, weight_decay=0.1)",
  ],
];

describe("optimizers match torch.optim", () => {
  let expectedAll: number[][] = [];
  beforeAll(async () => {
    await tf.setBackend("cpu");
    if (!torchAvailable) {
      if (process.env.CI)
        throw new Error("CI must install python3-torch (Debian) for /usr/bin/python3");
      console.warn("skipping: /usr/bin/python3 has no torch (apt-get install python3-torch)");
      return;
    }
    expectedAll = torchTrajectories(cases.map((c) => c[2]));
  });

  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  // tf.setBackend alone: tfjs's ops only. selectBackend: the project's fused
  // update kernels (SgdStudioAxpby) on cpu and on wasm.
  const engines = [
    ["tfjs ops", async () => void (await tf.setBackend("cpu"))],
    ["fused, cpu", async () => void (await selectBackend("cpu"))],
    ["fused, wasm", async () => void (await selectBackend("wasm"))],
  ] as const;
  // tfjs ops first: once selectBackend has registered the kernels they stay.
  const rows = engines.flatMap(([engine, use]) =>
    cases.map(([name, spec]) => [`${name} (${engine})`, name, spec, engine, use] as const),
  );
  it.skipIf(!torchAvailable && !process.env.CI).each(rows)(
    "%s",
    async (_, name, spec, engine, use) => {
      await use();
      expect(fusedUpdateAvailable(AXPBY)).toBe(engine !== "tfjs ops");
      const expected = expectedAll[cases.findIndex((c) => c[0] === name)] as number[];
      const got = await ours(spec);
      for (const [i, v] of got.entries()) expect(v).toBeCloseTo(expected[i] as number, 5);
      // The trajectory must have moved: a no-op optimizer would fail here.
      expect(got).not.toEqual(P0.map((x) => Math.fround(x)));
    },
  );

  it("state round-trips (momentum buffers continue the same trajectory)", async () => {
    const p = tf.variable(tf.tensor1d(P0));
    const opt = new Optimizer({ kind: "momentum" }, [p]);
    const g = tf.tensor1d([1, 1, 1, 1]);
    opt.apply([g], 0.1);
    const state = await opt.getState();
    const p2 = tf.variable(p.clone());
    const opt2 = new Optimizer({ kind: "momentum" }, [p2]);
    opt2.setState(state);
    opt.apply([g], 0.1);
    opt2.apply([g], 0.1);
    expect(Array.from(await p2.data())).toEqual(Array.from(await p.data()));
    expect(() => new Optimizer({ kind: "adam" }, [p]).setState(state)).toThrow(
      /holds momentum optimizer state/,
    );
  });
});
