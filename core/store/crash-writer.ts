/**
 * The writer process of the crash test (crash.test.ts): opens the library
 * given as argv[2], creates a run, then records synthetic training (steps,
 * epoch ends, real checkpoints) as fast as it can until it is killed.
 * After each committed transaction it reports over IPC how many metric rows
 * are committed, so the test knows what must survive the kill.
 *
 * Run: node --import tsx core/store/crash-writer.ts <home> [flushRows]
 */
import { testSpec, writeTestCheckpoint } from "./fixtures.js";
import { RunStore } from "./store.js";

const home = process.argv[2];
if (!home) throw new Error("usage: crash-writer <home> [flushRows]");
const flushRows = Number(process.argv[3] ?? 2000);
const send = (message: unknown) => process.send?.(message);

const store = RunStore.open(home);
const run = store.createRun(testSpec());
const dir = run.checkpointDir as string;
const rec = store.recorder(run.id, {
  flushRows,
  flushMs: 0,
  onFlush: (_rows, total) => send({ type: "committed", runId: run.id, rows: total }),
});
const perEpoch = 500;
const batch = 32;
rec.record({
  type: "start",
  backend: "cpu",
  backendSummary: "crash writer",
  dataset: {
    name: "synthetic",
    train: perEpoch * batch,
    test: 0,
    shape: [1],
    source: "crash test",
  },
  model: { name: "mlp", parameters: 1 },
  epochs: 1_000_000,
  steps: 1_000_000 * perEpoch,
  startEpoch: 0,
  warnings: [],
});
send({ type: "started", runId: run.id, pid: process.pid });

let step = 0;
for (let epoch = 0; ; epoch++) {
  for (let i = 0; i < perEpoch; i++, step++) {
    rec.log(
      {
        loss: 1 / (1 + step),
        lr: 0.1,
        batchSize: batch,
        delta: 0.01,
        gradNorm: 1,
        throughput: 1000,
        a: step,
        b: -step,
      },
      { step, epoch, epochsDone: epoch + (i + 1) / perEpoch, samples: (step + 1) * batch },
    );
    // Let the IPC messages out now and then (the loop would otherwise starve the event loop).
    if (step % 250 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  rec.flush();
  writeTestCheckpoint(dir, epoch, step);
  rec.record({ type: "checkpoint", epoch, path: `${dir}/epoch-${String(epoch).padStart(4, "0")}` });
}
