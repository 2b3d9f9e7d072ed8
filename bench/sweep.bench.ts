/**
 * Sweep overhead and local scaling (issue 15): 8 tiny members (mlp, 300
 * embedded images, 2 epochs, cpu backend) run through the service, once
 * with 1 member at a time and once with 2 (two worker processes).
 *
 * Prints, per concurrency: wall time of the whole sweep, the members'
 * own training time (their recorded wall_time, summed), and the sweep's
 * overhead per member at concurrency 1: (wall - sum of training) / members,
 * which is dispatch (claim, worker start, spec) plus ingestion (recording
 * the final rows) plus the host's polling; as a share of a member's time.
 *
 *   npx tsx bench/sweep.bench.ts [--members 8] [--epochs 2]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTraining } from "../core/engine/worker-client.js";
import { runMethods } from "../core/service/runs.js";
import { Service } from "../core/service/service.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const MEMBERS = arg("members", 8);
const EPOCHS = arg("epochs", 2);

async function once(concurrency: number) {
  const home = mkdtempSync(join(tmpdir(), "bench-sweep-"));
  const service = new Service({
    home,
    runs: runMethods({ home, launch: startTraining, concurrency }),
  });
  try {
    const t0 = performance.now();
    const { id } = await service.call("sweeps.create", {
      spec: {
        version: 1,
        base: {
          dataset: "default",
          model: "mlp",
          backend: "cpu",
          trainLimit: 300,
          testLimit: 100,
          epochs: EPOCHS,
          schedule: "paper-constant",
        },
        axes: {
          lr: Array.from({ length: MEMBERS }, (_, i) => Number((0.01 * (i + 1)).toFixed(2))),
        },
      },
    });
    const created = (performance.now() - t0) / 1000;
    for (;;) {
      const s = await service.call("sweeps.get", { id });
      if (s.finished) {
        const wall = (performance.now() - t0) / 1000;
        const training = s.members.reduce((a, m) => a + (m.wallTime ?? 0), 0);
        return { concurrency, wall, training, created, completed: s.counts.completed };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await service.close();
    rmSync(home, { recursive: true, force: true });
  }
}

const one = await once(1);
const two = await once(2);
const perMember = one.training / MEMBERS;
const overhead = (one.wall - one.training) / MEMBERS;
console.log(`${MEMBERS} members, mlp, 300 images, ${EPOCHS} epochs, cpu backend`);
for (const r of [one, two])
  console.log(
    `concurrency ${r.concurrency}: ${r.completed}/${MEMBERS} completed, wall ${r.wall.toFixed(1)} s, members' training ${r.training.toFixed(1)} s summed, create ${(r.created * 1000).toFixed(0)} ms`,
  );
console.log(
  `overhead per member at concurrency 1: ${overhead.toFixed(2)} s (dispatch + worker start + recording + polling) against ${perMember.toFixed(2)} s of training: ${((100 * overhead) / perMember).toFixed(0)}%`,
);
console.log(`scaling, 1 -> 2 worker processes: ${(one.wall / two.wall).toFixed(2)}x`);
console.log(
  JSON.stringify({
    members: MEMBERS,
    epochs: EPOCHS,
    one,
    two,
    overheadPerMember: overhead,
    trainingPerMember: perMember,
  }),
);
