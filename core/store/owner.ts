/**
 * Who trains a run: the identity of a host process (machine, pid, the
 * process's start time and a random instance id), and whether such an owner
 * is still alive.
 *
 * A pid alone does not identify a process: after a crash the pid may be a
 * zombie (killed, not yet reaped by its parent; `kill(pid, 0)` still
 * succeeds) or may have been recycled by an unrelated process. On Linux the
 * start time in /proc/<pid>/stat (clock ticks since boot, with the boot id)
 * tells them apart; elsewhere only the pid is checked and the lease decides.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

export interface Owner {
  /** Random per host process: two hosts never share it, even with a recycled pid. */
  id: string;
  host: string;
  pid: number;
  /** "<boot id>:<start ticks>" on Linux, null where unknown. */
  started: string | null;
}

let self: Owner | null = null;

/** This process as an owner (one id per process). */
export function currentOwner(): Owner {
  self ??= {
    id: `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`,
    host: hostname(),
    pid: process.pid,
    started: processStart(process.pid),
  };
  return self;
}

let bootId: string | null | undefined;

function readBootId(): string | null {
  if (bootId !== undefined) return bootId;
  try {
    bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    bootId = null;
  }
  return bootId;
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses). */
function procStat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** The start time of a process as "<boot id>:<ticks since boot>", or null where /proc is missing. */
export function processStart(pid: number): string | null {
  const boot = readBootId();
  const fields = procStat(pid);
  // Field 22 of stat is starttime; after the command name it is index 19.
  const ticks = fields?.[19];
  return boot && ticks ? `${boot}:${ticks}` : null;
}

export type Liveness = "alive" | "dead" | "unknown";

/**
 * Whether the owner process still runs. "unknown" for another machine's
 * process (only its lease can tell). Dead: no such pid, a zombie, or a pid
 * now used by a process that started at another time.
 */
export function ownerLiveness(
  owner: { host: string | null; pid: number | null; started: string | null },
  here: string = hostname(),
): Liveness {
  if (owner.host !== here || owner.pid === null || owner.pid <= 0) {
    return owner.host === here ? "dead" : "unknown";
  }
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return "dead";
  }
  const fields = procStat(owner.pid);
  if (fields) {
    const state = fields[0];
    if (state === "Z" || state === "X" || state === "x") return "dead";
    if (owner.started !== null && processStart(owner.pid) !== owner.started) return "dead";
  }
  return "alive";
}
