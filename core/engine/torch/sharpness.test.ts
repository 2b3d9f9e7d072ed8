/**
 * Sharpness on the torch engine (core/engine/torch/sharpness.ts,
 * python/sgd_studio_torch/sharpness.py): a torch run records the same
 * sharpness events, metric keys and environment records (settings and
 * units) as a wasm run of the same spec; a torch run's checkpoint is measured
 * on demand by the torch engine; stop and a resume that finds every epoch
 * trained behave as on TF.js; batch norm models are measured in inference
 * mode without touching their weights or running statistics. (The values
 * themselves against TF.js, same weights and same batches: tests/sharpness-torch.test.ts.)
 *
 * PyTorch is required (CI installs python3-torch): without it these tests
 * skip with a message, except under CI (CI=true), where they fail.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect } from "vitest";
import { serviceAt, sharpnessEvents } from "../../../tests/support/service.js";
import { requireTorch, torchTests } from "../../../tests/support/torch.js";
import type { SharpnessRecord } from "../../api/sharpness.js";
import { modelGraph } from "../../models/index.js";
import type { SharpnessEvent, TrainEvent, TrainSpecInput } from "../events.js";
import { TorchTrainer } from "./driver.js";
import { torchEnv } from "./python.js";

const withTorch = torchTests("the torch sharpness tests");

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "torch-sharpness-"));
  dirs.push(d);
  return d;
}

const quick = { examples: 64, batchSize: 32, iterations: 4 };

const tiny = (over: Partial<TrainSpecInput> = {}): TrainSpecInput => ({
  dataset: "default",
  model: "mlp",
  seed: 1,
  trainLimit: 200,
  testLimit: 100,
  schedule: {
    version: 1,
    epochs: 2,
    lr: { kind: "constant", lr: 0.05 },
    batch: { kind: "constant", size: 50 },
  },
  ...over,
});

/** Everything of a record but what differs between engines by nature (value, loss, time, backend). */
function settingsOf(r: SharpnessRecord) {
  const { value: _v, loss: _l, seconds: _s, at: _a, backend: _b, ...rest } = r;
  return rest;
}

describe("sharpness on the torch engine", () => {
  withTorch(
    "records the wasm engine's events, metric keys and records; a torch checkpoint is measured on demand",
    async () => {
      requireTorch();
      const { service, events, finished } = serviceAt(tempDir());
      const sharpness = (id: string) => sharpnessEvents(events, id);
      try {
        const spec = tiny({ sharpness: { ...quick, everyEpochs: 1 } });
        const torch = (await service.call("runs.start", { spec: { ...spec, backend: "torch" } }))
          .id;
        const wasm = (await service.call("runs.start", { spec: { ...spec, backend: "wasm" } })).id;
        expect(await finished(torch)).toBe("completed");
        expect(await finished(wasm)).toBe("completed");

        // The same events: progress first, then every epoch but the last the one-step
        // estimate, at the end every variant; the same fields on each kind of event.
        const shape = (id: string) =>
          sharpness(id)
            .filter((e) => e.values)
            .map((e) => [e.epoch, e.when, e.values?.map((v) => v.key), e.backend]);
        expect(shape(torch)).toEqual([
          [0, "every", ["sharpnessOneStep"], "torch"],
          [1, "end", ["sharpness", "sharpnessL2", "sharpnessOneStep"], "torch"],
        ]);
        expect(shape(wasm).map((s) => s.slice(0, 3))).toEqual(
          shape(torch).map((s) => s.slice(0, 3)),
        );
        const fields = (id: string) => [
          ...new Set(sharpness(id).map((e) => Object.keys(e).sort().join())),
        ];
        expect(fields(torch).sort()).toEqual(fields(wasm).sort());
        const progress = sharpness(torch).filter((e) => !e.values);
        expect(progress.length).toBeGreaterThan(0);
        expect(progress.every((e) => e.done >= 1 && e.done <= e.total)).toBe(true);

        // The same metric keys, counts and x positions in the library.
        const runs = await Promise.all([torch, wasm].map((id) => service.call("runs.get", { id })));
        const keys = (r: (typeof runs)[number]) =>
          r.keys.filter((k) => k.key.startsWith("sharpness")).map((k) => [k.key, k.count]);
        expect(keys(runs[0] as (typeof runs)[number])).toEqual([
          ["sharpness", 1],
          ["sharpnessL2", 1],
          ["sharpnessOneStep", 2],
        ]);
        expect(keys(runs[0] as (typeof runs)[number])).toEqual(
          keys(runs[1] as (typeof runs)[number]),
        );
        const metrics = await service.call("runs.metrics", {
          ids: [torch, wasm],
          keys: ["sharpness", "sharpnessL2", "sharpnessOneStep"],
          x: "epoch",
        });
        const series = (id: string) =>
          metrics.filter((m) => m.runId === id).map((m) => [m.key, m.xs]);
        expect(series(torch)).toEqual(series(wasm));

        // The same environment records: settings and units field for field; values of the
        // same size (different engines, different initial weights: not equal values; measured
        // within 15%).
        const [tr, wr] = runs.map((r) => r.environment.sharpness as SharpnessRecord[]);
        console.info(
          `sharpness torch vs wasm (same spec, own weights): ${(tr ?? []).map((t, i) => `${t.key}@${t.epoch} ${t.value.toPrecision(3)} / ${wr?.[i]?.value.toPrecision(3)}`).join(", ")}`,
        );
        expect(tr?.map(settingsOf)).toEqual(wr?.map(settingsOf));
        expect(tr?.every((r) => r.backend === "torch")).toBe(true);
        for (const [i, t] of (tr ?? []).entries()) {
          const w = wr?.[i] as SharpnessRecord;
          expect(Object.keys(t).sort()).toEqual(Object.keys(w).sort());
          expect(t.value, t.key).toBeGreaterThan(0);
          // Loss in nats per example, as TF.js: a 2-epoch mlp on 10 classes is well below ln 10.
          expect(Math.abs(Math.log(t.loss / w.loss))).toBeLessThan(Math.log(2));
          expect(Math.abs(Math.log(t.value / w.value)), t.key).toBeLessThan(Math.log(2));
          expect(t.seconds).toBeGreaterThan(0);
        }

        // On demand: the torch run's checkpoint measured by the torch engine, recorded.
        const demand = await service.call("runs.sharpness", {
          id: torch,
          ...quick,
          variants: ["adaptive"],
        });
        expect(demand).toMatchObject({ id: torch, epoch: 1, backend: "torch" });
        // The same weights and subset as the end-of-run measurement: the same value.
        const atEnd = tr?.find((r) => r.key === "sharpness" && r.when === "end");
        expect(demand.values[0]?.value).toBeCloseTo(atEnd?.value as number, 5);
        const after = await service.call("runs.get", { id: torch });
        expect(after.status).toBe("completed");
        expect((after.environment.sharpness as SharpnessRecord[]).at(-1)).toMatchObject({
          when: "on-demand",
          backend: "torch",
          epoch: 1,
        });
        // A TF.js backend cannot read torch weights: a clear error with the fix.
        await expect(
          service.call("runs.sharpness", { id: torch, ...quick, backend: "wasm" }),
        ).rejects.toThrow(/made by the torch engine.*measure it with backend torch/);
      } finally {
        await service.close();
      }
    },
    240_000,
  );

  withTorch(
    "stop is respected during a measurement; a resume that finds every epoch trained measures at the end",
    async () => {
      requireTorch();
      const dir = tempDir();
      const events: TrainEvent[] = [];
      const first = new TorchTrainer(
        tiny({
          backend: "torch",
          checkpointDir: dir,
          sharpness: { ...quick, iterations: 50, variants: ["adaptive"] },
        }),
        (e) => {
          events.push(e);
          if (e.type === "sharpness" && !e.values) first.stop();
        },
      );
      const summary = await first.run();
      expect(summary.status).toBe("stopped");
      const measured = events.filter((e) => e.type === "sharpness");
      expect(measured.length).toBeGreaterThan(0);
      expect(measured.some((e) => e.type === "sharpness" && (e.values || e.error))).toBe(false);

      const again: TrainEvent[] = [];
      const resumed = await new TorchTrainer(
        tiny({ backend: "torch", checkpointDir: dir, sharpness: { ...quick, variants: ["l2"] } }),
        (e) => again.push(e),
        { resumeFrom: join(dir, "epoch-0001") },
      ).run();
      expect(resumed.status).toBe("completed");
      expect(again.some((e) => e.type === "step")).toBe(false);
      const end = again.filter((e): e is SharpnessEvent => e.type === "sharpness" && !!e.values);
      expect(end.map((e) => [e.epoch, e.when, e.backend, e.values?.map((v) => v.key)])).toEqual([
        [1, "end", "torch", ["sharpnessL2"]],
      ]);
      expect(end[0]?.values?.[0]).toMatchObject({ norm: "l2", rho: 0.05, examples: 64 });
    },
    120_000,
  );

  withTorch(
    "a batch norm model is measured in inference mode; weights and running statistics untouched",
    () => {
      const py = requireTorch();
      const graph = modelGraph("cnn", { inputShape: [28, 28, 1], numClasses: 10 });
      const script = `
import json, sys, torch, torch.nn.functional as F
from sgd_studio_torch.models import build_model
from sgd_studio_torch.sharpness import measure
torch.manual_seed(0)
torch.set_num_threads(1)
m = build_model(json.load(sys.stdin), 0)
opt = torch.optim.SGD(m.parameters(), lr=0.05)
x = torch.randn(64, 1, 28, 28); y = torch.arange(64) % 10
for _ in range(3):  # running statistics away from their initial values
    opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
m.train()
before = {k: v.clone() for k, v in m.state_dict().items()}
batches = [(x[:32], y[:32]), (x[32:], y[32:])]
values = measure(m, batches, {"rho": 0.001, "rhoL2": 0.05, "iterations": 3, "variants": ["adaptive", "l2", "one-step"]})
after = m.state_dict()
same = all(torch.equal(before[k], after[k]) for k in before)
training = m.training
with torch.no_grad():
    m.eval(); eval_loss = sum(F.cross_entropy(m(bx), by).item() * 32 for bx, by in batches) / 64
    m.train(); train_loss = sum(F.cross_entropy(m(bx), by).item() * 32 for bx, by in batches) / 64
print(json.dumps({
    "bn": [k for k in before if "running" in k],
    "same": same, "training": training,
    "values": values, "eval": eval_loss, "train": train_loss}))`;
      const out = JSON.parse(
        execFileSync(py, ["-c", script], {
          input: JSON.stringify(graph),
          env: torchEnv(),
          timeout: 120_000,
        }).toString(),
      ) as {
        bn: string[];
        same: boolean;
        training: boolean;
        values: { variant: string; value: number; loss: number; examples: number }[];
        eval: number;
        train: number;
      };
      expect(out.bn.length).toBeGreaterThan(0);
      expect(out.same).toBe(true);
      expect(out.training).toBe(true);
      expect(out.values.map((v) => [v.variant, v.examples])).toEqual([
        ["adaptive", 64],
        ["l2", 64],
        ["one-step", 64],
      ]);
      for (const v of out.values) {
        expect(v.value).toBeGreaterThan(0);
        // L(w) is the inference-mode loss (running statistics), not the batch-statistics one.
        expect(v.loss).toBeCloseTo(out.eval, 4);
        expect(Math.abs(v.loss - out.train)).toBeGreaterThan(1e-3);
      }
    },
    120_000,
  );
});
