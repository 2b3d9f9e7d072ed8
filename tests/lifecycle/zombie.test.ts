/**
 * Done 10 of the run-lifecycle issue: a host SIGKILLed while its pid is still
 * a zombie (its parent never reaps it, so `kill(pid, 0)` still succeeds). The
 * next host to open the library sees the owner is dead and the run becomes
 * `interrupted` (not left `running` forever), and a resume completes it. And
 * ownerLiveness (core/store/owner.ts) at unit level: a recycled pid (same pid,
 * another start time) is dead; another machine's owner is "unknown" (only its
 * lease decides).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { URL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { ServiceEvent } from "../../core/api/contract.js";
import type { TrainSpecInput } from "../../core/engine/events.js";
import { type Owner, ownerLiveness, processStart } from "../../core/store/owner.js";
import { RunStore } from "../../core/store/store.js";
import {
  createClient,
  type StudioClient,
  type WebSocketConstructor,
} from "../../renderer/src/lib/transport/index.js";
import {
  childPids,
  cli,
  look,
  type Proc,
  ROOT,
  rows,
  stepsPerEpoch,
  tempHome,
  tinySpec,
  until,
} from "./hosts.js";

const EPOCHS = 3;
const SCHEDULE = {
  version: 1,
  epochs: EPOCHS,
  lr: { kind: "constant", lr: 0.05 },
  batch: { kind: "constant", size: 16 },
};

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** The process state letter of /proc/<pid>/stat (R, S, Z, ...), or null when there is no such pid. */
function procState(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ")[0] ?? null;
  } catch {
    return null;
  }
}

function parentOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
}

/**
 * `sgd-studio serve` started in the background by a bash that then becomes
 * `sleep`: the host's parent never waits for it, so once killed it stays a zombie.
 */
async function unreapedServe(home: string): Promise<{
  parent: ChildProcess;
  hostPid: number;
  client: StudioClient;
  events: ServiceEvent[];
}> {
  const script = `"${process.execPath}" bin/sgd-studio.js serve --home "${home}" --port 0 --no-open & echo "pid $!"; exec sleep 600`;
  const parent = spawn("bash", ["-c", script], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  parent.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  parent.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise((r) => parent.once("close", r));
  cleanup.push(async () => {
    parent.kill("SIGKILL"); // sleep goes; the zombie is handed to init, which reaps it
    await exited;
  });
  const hostPid = Number(await until(() => /^pid (\d+)$/m.exec(out)?.[1], "the host's pid"));
  cleanup.push(() => {
    if (procState(hostPid) !== null && procState(hostPid) !== "Z") process.kill(hostPid, "SIGKILL");
  });
  const url = await until(
    () => /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/.exec(out)?.[0],
    `serve to print its URL (stderr: ${err})`,
    30_000,
  );
  const u = new URL(url);
  const client = createClient({
    bridge: null,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    location: { protocol: "http:", host: u.host, search: u.search },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  cleanup.push(() => client.close());
  const events: ServiceEvent[] = [];
  client.on((e) => events.push(e as ServiceEvent));
  await client.call("runs.list", {});
  return { parent, hostPid, client, events };
}

async function run(p: Proc): Promise<number | null> {
  cleanup.push(() => p.kill("SIGKILL"));
  return (await p.exited).code;
}

describe("a host killed while its pid is a zombie", () => {
  it("its run becomes interrupted when the next host opens the library, and resumes to completion", async () => {
    const home = tempHome("zombie-host-");
    const { parent, hostPid, client, events } = await unreapedServe(home);
    expect(parentOf(hostPid)).toBe(parent.pid); // bash, now sleep: it never waits
    const self = { host: hostname(), pid: hostPid, started: processStart(hostPid) };
    expect(ownerLiveness(self)).toBe("alive");

    const { id } = await client.call("runs.start", {
      spec: tinySpec(41, EPOCHS, { schedule: SCHEDULE, noiseEvery: 0 }),
    });
    await until(
      () => {
        const ev = events.flatMap((e) =>
          e.type === "run.event" && e.runId === id ? [e.event] : [],
        );
        const cp = ev.findIndex((e) => e.type === "checkpoint");
        return cp >= 0 && ev.slice(cp).some((e) => e.type === "step");
      },
      "a step after the first checkpoint",
      60_000,
    );
    const workers = childPids(hostPid);
    expect(workers).toHaveLength(1);
    client.close();

    process.kill(hostPid, "SIGKILL");
    await until(() => procState(hostPid) === "Z", `pid ${hostPid} to be a zombie`, 10_000);
    // Its worker sees the channel close and exits: nobody trains the run any more.
    await until(
      () => workers.every((w) => [null, "Z"].includes(procState(w))),
      "the worker to exit",
      10_000,
    );
    process.kill(hostPid, 0); // the zombie's pid still "exists" for kill(2)
    const left = look(home, (s) => s.getRun(id));
    expect(left.status).toBe("running");
    expect(left.owner?.pid).toBe(hostPid);
    const resumeEpoch = left.resumeEpoch as number;
    expect(resumeEpoch).toBeGreaterThanOrEqual(0);
    expect(ownerLiveness(self)).toBe("dead");

    // The next host: `sgd-studio runs list` opens the library, which recovers.
    const list = cli(["runs", "list", "--home", home]);
    expect(await run(list), list.err()).toBe(0);
    expect(procState(hostPid)).toBe("Z"); // recovered while the pid was still a zombie
    expect(list.out()).toMatch(new RegExp(`${id}\\s+interrupted`));
    const cut = look(home, (s) => s.getRun(id));
    expect(cut.status).toBe("interrupted");
    expect(cut.owner).toBeNull();
    expect(cut.error?.message).toContain(`pid ${hostPid}`);
    expect(cut.error?.message).toContain("ended without finishing");
    expect(cut.error?.message).toContain(`checkpoint of epoch ${resumeEpoch + 1}`);

    const again = cli(["train", "--resume", id, "--home", home, "--json"]);
    expect(await run(again), again.err()).toBe(0);
    const startEpochs = again
      .out()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { type: string; startEpoch?: number })
      .filter((e) => e.type === "start")
      .map((e) => e.startEpoch);
    expect(startEpochs).toEqual([resumeEpoch + 1]);
    const done = look(home, (s) => s.getRun(id));
    expect(done.status).toBe("completed");
    expect(done.attempt).toBe(2);
    expect(done.lastEpoch).toBe(EPOCHS - 1);
    const perEpoch = stepsPerEpoch(home, id);
    expect([...perEpoch.keys()]).toEqual([...Array(EPOCHS).keys()]);
    const steps = rows(home, id)
      .filter((r) => r.key === "loss")
      .map((r) => r.step);
    expect(steps).toEqual([...Array(done.plannedSteps as number).keys()]);
    expect(stepsPerEpoch(home, id, "testAccuracy").size).toBe(EPOCHS);
  });
});

describe("ownerLiveness", () => {
  /** A live process that is not this one (a pid that could have been recycled). */
  async function otherProcess(): Promise<number> {
    const p = spawn("sleep", ["60"], { stdio: "ignore" });
    const exited = new Promise((r) => p.once("close", r));
    cleanup.push(async () => {
      p.kill("SIGKILL");
      await exited;
    });
    await until(() => procState(p.pid as number) !== null, "sleep to start");
    return p.pid as number;
  }

  it("a recycled pid (the same pid, another start time) is dead; the same process is alive", async () => {
    const pid = await otherProcess();
    const started = processStart(pid) as string;
    expect(started).toMatch(/^[0-9a-f-]+:\d+$/);
    const [boot, ticks] = [started.slice(0, started.lastIndexOf(":")), started.split(":").pop()];
    expect(ownerLiveness({ host: hostname(), pid, started })).toBe("alive");
    // The owner was a process with this pid that started earlier: the pid was reused.
    const earlier = `${boot}:${Number(ticks) - 1}`;
    expect(ownerLiveness({ host: hostname(), pid, started: earlier })).toBe("dead");
    // Or in an earlier boot of this machine.
    const otherBoot = `00000000-0000-0000-0000-000000000000:${ticks}`;
    expect(ownerLiveness({ host: hostname(), pid, started: otherBoot })).toBe("dead");
    // No start time recorded (not Linux): only the pid can be checked.
    expect(ownerLiveness({ host: hostname(), pid, started: null })).toBe("alive");
  });

  it("another machine's owner is unknown, alive pid or not", async () => {
    const pid = await otherProcess();
    const other = "another-machine.example";
    expect(ownerLiveness({ host: other, pid, started: processStart(pid) })).toBe("unknown");
    expect(ownerLiveness({ host: other, pid: 2 ** 22 + 1, started: "x:1" })).toBe("unknown");
    expect(ownerLiveness({ host: other, pid: null, started: null })).toBe("unknown");
    // On this machine, a pid that does not exist is dead.
    expect(ownerLiveness({ host: hostname(), pid: 2 ** 22 + 1, started: null })).toBe("dead");
  });

  it("recovery acts on it: a recycled owner's run is interrupted; another machine's waits for its lease", async () => {
    const pid = await otherProcess();
    const started = processStart(pid) as string;
    const owner = (o: Partial<Owner>): Owner => ({
      id: `test:${Math.random()}`,
      host: hostname(),
      pid,
      started,
      ...o,
    });
    const home = tempHome("owner-liveness-");
    const store = RunStore.open(home);
    cleanup.push(() => store.close());
    const claimed = (o: Owner, leaseMs: number) =>
      store.createRun(
        tinySpec(1, 1, { schedule: SCHEDULE }) as unknown as TrainSpecInput,
        undefined,
        {
          claim: { owner: o, leaseMs },
        },
      ).id;
    const live = claimed(owner({}), 60_000);
    const recycled = claimed(owner({ started: `${started.split(":")[0]}:1` }), 60_000);
    const remote = claimed(owner({ host: "another-machine.example" }), 60_000);
    const remoteExpired = claimed(owner({ host: "another-machine.example" }), -1);
    expect(store.recoverInterrupted().sort()).toEqual([recycled, remoteExpired].sort());
    expect(store.getRun(live).status).toBe("running");
    expect(store.getRun(remote).status).toBe("running");
    expect(store.getRun(recycled).status).toBe("interrupted");
    expect(store.getRun(recycled).error?.message).toContain(`pid ${pid}`);
    expect(store.getRun(remoteExpired).status).toBe("interrupted");
    expect(store.getRun(remoteExpired).error?.message).toContain("stopped renewing its lease");
  });
});
