/**
 * The second process of the migration fault test (migrate-kill.test.ts): opens the library in
 * argv[2] as any host does (migrating and compacting it), closes it, and says so. The test sets
 * SGD_STUDIO_TEST_MIGRATION_MOMENTS to stop it at a moment of the migration and SIGKILLs it there.
 *
 * Run: node --import tsx core/store/migrate-child.ts <home>
 */
import { RunStore } from "./store.js";

const home = process.argv[2];
if (!home) throw new Error("usage: migrate-child <home>");
const t0 = performance.now();
const store = RunStore.open(home, { recover: false });
store.close();
process.stderr.write(`sgd-studio-test: opened in ${Math.round(performance.now() - t0)} ms\n`);
