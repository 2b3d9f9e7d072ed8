/**
 * A full disk while saving a checkpoint (a real, tiny tmpfs as the home): the
 * temporary checkpoint folder is removed, the previous checkpoint stays, the
 * run ends `interrupted` (a resume gets past it once there is room) with the
 * cause, and after making room a resume trains it to the end.
 * Needs root to mount a tmpfs (CI runs as root); skips elsewhere with a message.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { saveCheckpoint } from "../../core/engine/checkpoint.js";
import { TrainingError } from "../../core/engine/events.js";
import { cli, look, stepsPerEpoch } from "./hosts.js";

function tryMount(dir: string, size: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    try {
      execFileSync("umount", [m], { stdio: "pipe" });
      rmSync(m, { recursive: true, force: true });
    } catch {}
  }
});

function tinyDisk(size: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), "disk-full-"));
  if (!tryMount(dir, size)) return null;
  mounts.push(dir);
  return dir;
}

const canMount =
  process.getuid?.() === 0 &&
  (() => {
    const probe = tinyDisk("64k");
    return probe !== null;
  })();
if (!canMount && process.env.CI)
  throw new Error("disk-full tests need root to mount a tmpfs under CI");
if (!canMount) console.warn("skipping disk-full tests: mounting a tmpfs needs root");

describe.skipIf(!canMount)("a full disk while saving a checkpoint", () => {
  it("saveCheckpoint: disk-full error, no temporary folder left, the previous checkpoint intact", () => {
    const disk = tinyDisk("256k") as string;
    const small = { name: "w", shape: [1000], values: new Float32Array(1000) };
    const big = { name: "w", shape: [200_000], values: new Float32Array(200_000) };
    const input = (epoch: number, w: typeof small) => ({
      spec: {} as never,
      epoch,
      step: epoch,
      samples: 0,
      weights: [w],
      optimizer: { kind: "sgd" as const, step: 0, slots: {} },
      noise: null,
      best: null,
    });
    saveCheckpoint(disk, input(0, small));
    let err: unknown;
    try {
      saveCheckpoint(disk, input(1, big));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrainingError);
    expect((err as TrainingError).code).toBe("disk-full");
    expect((err as Error).message).toMatch(
      /the disk is full: the checkpoint of epoch 2 .* free some space and resume/,
    );
    expect(readdirSync(disk).sort()).toEqual(["epoch-0000", "latest.json"]);
  });

  it("a run whose checkpoint does not fit ends interrupted with the cause, and resumes once there is room", async () => {
    // The runs' folder (checkpoints) on a disk with no room for an mlp checkpoint (~1 MB); the
    // library beside it on the ordinary disk, so the checkpoint, not the library's writes, is
    // what meets the full disk (with both on one tiny disk, which came first depended on timing).
    const home = mkdtempSync(join(tmpdir(), "disk-full-home-"));
    const runsDisk = join(home, "runs");
    mkdirSync(runsDisk);
    if (!tryMount(runsDisk, "700k")) throw new Error(`could not mount a tmpfs on ${runsDisk}`);
    mounts.push(runsDisk);
    const p = cli([
      "train",
      "--home",
      home,
      "--epochs",
      "2",
      "--backend",
      "cpu",
      "--train-limit",
      "200",
      "--json",
    ]);
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.err()).toMatch(/the disk is full/);
    expect(p.err()).toMatch(/sgd-studio train --resume/);
    const id = JSON.parse(p.out().split("\n")[0] as string).id as string;
    const run = look(home, (s) => s.getRun(id));
    expect(run.status).toBe("interrupted");
    expect(run.error?.code).toBe("disk-full");
    const dir = join(home, "runs", id, "checkpoints");
    expect(readdirSync(dir).filter((n) => n.includes(".tmp-"))).toEqual([]);
    execFileSync("mount", ["-o", "remount,size=16m", runsDisk]);
    const again = cli(["train", "--resume", id, "--home", home, "--json"]);
    expect((await again.exited).code).toBe(0);
    expect(look(home, (s) => s.getRun(id).status)).toBe("completed");
    expect([...stepsPerEpoch(home, id, "testAccuracy").keys()]).toEqual([0, 1]);
  });

  it("a library whose disk fills up mid-run: the run stops with a clear cause, and resumes once there is room", async () => {
    // The library alone on a disk with room for itself and little more (an empty one is ~220 KB,
    // its write-ahead log as much again while it is created); the runs' folder on a disk of its own.
    const home = tinyDisk("600k") as string;
    const runsDisk = join(home, "runs");
    mkdirSync(runsDisk);
    if (!tryMount(runsDisk, "16m")) throw new Error(`could not mount a tmpfs on ${runsDisk}`);
    mounts.unshift(runsDisk); // unmounted before the disk that holds it
    const p = cli([
      "train",
      "--home",
      home,
      "--epochs",
      "12",
      // wasm, not the pure-JS cpu backend: the same rows in a third of the time (the disk, not
      // the backend, is under test).
      "--backend",
      "wasm",
      "--train-limit",
      "2000",
      "--json",
    ]);
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.err()).toMatch(/the disk is full: the library could not record this run/);
    expect(p.err()).toMatch(/free some space and resume/);
    expect(p.err()).not.toMatch(/^error: recording stopped: database or disk is full/m);
    const id = JSON.parse(p.out().split("\n")[0] as string).id as string;
    execFileSync("mount", ["-o", "remount,size=64m", home]);
    const again = cli(["train", "--resume", id, "--home", home, "--json"]);
    expect((await again.exited).code).toBe(0);
    expect(look(home, (s) => s.getRun(id).status)).toBe("completed");
    // Every epoch's evaluation is there once, none lost at the full disk, none twice.
    expect([...stepsPerEpoch(home, id, "testAccuracy").keys()]).toEqual(
      Array.from({ length: 12 }, (_, e) => e),
    );
  }, 240_000);
});
