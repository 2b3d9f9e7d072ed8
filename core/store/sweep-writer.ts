/**
 * The second process of sweeps.test.ts: opens the library given as argv[2]
 * and adds the same members as the test process, at the same moment, to
 * sweep argv[3] (members: argv[4] of them, keys m0..m<n-1>). Prints the ids
 * it created as JSON.
 *
 * Run: node --import tsx core/store/sweep-writer.ts <home> <sweep> <n>
 */
import { testSpec } from "./fixtures.js";
import { RunStore } from "./store.js";
import { SweepStore } from "./sweeps.js";

const [home, sweep, n] = process.argv.slice(2);
if (!home || !sweep || !n) throw new Error("usage: sweep-writer <home> <sweep> <n>");
const store = RunStore.open(home, { recover: false });
const sweeps = new SweepStore(store);
const created: string[] = [];
// Many small transactions, so the two processes interleave.
for (let i = 0; i < Number(n); i += 5) {
  const batch = Array.from({ length: Math.min(5, Number(n) - i) }, (_, j) => ({
    key: `m${i + j}`,
    values: { i: i + j },
    spec: testSpec({ seed: i + j }) as Record<string, unknown>,
  }));
  created.push(...sweeps.addMembers(sweep, batch));
}
store.close();
process.stdout.write(`${JSON.stringify(created)}\n`);
