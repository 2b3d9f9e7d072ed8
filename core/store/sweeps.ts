/**
 * Sweeps in the library (schema v5): the `sweeps` table and the member runs
 * it owns. A member is an ordinary queued run carrying its sweep id, member
 * key and axis values, so the durable queue, claims, leases and resume of
 * the run lifecycle apply to it unchanged. The UNIQUE index on
 * (sweep_id, sweep_member) makes every grid point a run at most once, even
 * when several processes add members at the same moment: a member that
 * another connection inserted first is skipped, not duplicated.
 */
import { randomBytes } from "node:crypto";
import type { TrainSpecInput } from "../api/spec.js";
import type { SweepNoise, SweepState } from "../api/sweep.js";
import { StoreError } from "./errors.js";
import { nowIso } from "./schema.js";
import { libraryInternals, type RunRecord, type RunStore } from "./store.js";

export interface SweepRow {
  id: string;
  name: string | null;
  state: SweepState;
  spec: unknown;
  noise: SweepNoise | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewMember {
  key: string;
  values: Record<string, unknown>;
  /** A run spec the library accepts (createRun validates it). */
  spec: Record<string, unknown>;
}

interface Row {
  id: string;
  name: string | null;
  state: string;
  spec_json: string;
  noise_json: string | null;
  created_at: string;
  updated_at: string;
}

/** A new sweep id: "sw-" then the date and 6 random hex digits. */
export function newSweepId(date = new Date()): string {
  const iso = date.toISOString();
  return `sw-${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}-${randomBytes(3).toString("hex")}`;
}

function toSweep(row: Row): SweepRow {
  return {
    id: row.id,
    name: row.name,
    state: row.state as SweepState,
    spec: JSON.parse(row.spec_json),
    noise: row.noise_json ? (JSON.parse(row.noise_json) as SweepNoise) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The sweep tables of one library connection. */
export class SweepStore {
  constructor(private readonly store: RunStore) {}

  private get db() {
    return libraryInternals(this.store).db;
  }

  /** Records a sweep and its first members in one transaction. */
  create(
    sweep: { name: string | null; spec: unknown; noise: SweepNoise | null; id?: string },
    members: NewMember[],
  ): { id: string; created: string[] } {
    return this.db
      .transaction(() => {
        const id = sweep.id ?? newSweepId();
        const at = nowIso();
        this.db
          .prepare(
            `INSERT INTO sweeps (id, name, state, spec_json, noise_json, created_at, updated_at)
             VALUES (?, ?, 'active', ?, ?, ?, ?)`,
          )
          .run(
            id,
            sweep.name,
            JSON.stringify(sweep.spec),
            sweep.noise ? JSON.stringify(sweep.noise) : null,
            at,
            at,
          );
        return { id, created: this.insertMembers(id, members) };
      })
      .immediate();
  }

  /**
   * Adds members to a sweep; those whose key the sweep already has (made by
   * this or any other process) are skipped. Returns the new runs' ids.
   */
  addMembers(id: string, members: NewMember[], spec?: unknown): string[] {
    return this.db
      .transaction(() => {
        this.get(id);
        if (spec !== undefined)
          this.db
            .prepare("UPDATE sweeps SET spec_json = ?, updated_at = ? WHERE id = ?")
            .run(JSON.stringify(spec), nowIso(), id);
        return this.insertMembers(id, members);
      })
      .immediate();
  }

  private insertMembers(id: string, members: NewMember[]): string[] {
    const have = new Set(
      (
        this.db.prepare("SELECT sweep_member FROM runs WHERE sweep_id = ?").all(id) as {
          sweep_member: string;
        }[]
      ).map((r) => r.sweep_member),
    );
    const created: string[] = [];
    for (const m of members) {
      if (have.has(m.key)) continue;
      try {
        const run = this.store.createRun(m.spec as unknown as TrainSpecInput, undefined, {
          sweep: { id, member: m.key, values: m.values },
        });
        created.push(run.id);
        have.add(m.key);
      } catch (err) {
        // Another connection committed this member between our read and insert: keep theirs.
        if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") continue;
        throw err;
      }
    }
    return created;
  }

  get(idOrPart: string): SweepRow {
    const found = this.find(idOrPart);
    if (!found)
      throw new StoreError("not-found", `no sweep ${idOrPart} in the library ${this.store.home}`);
    return found;
  }

  /** By exact id or a unique part of one (4+ characters). */
  find(idOrPart: string): SweepRow | null {
    const exact = this.db.prepare("SELECT * FROM sweeps WHERE id = ?").get(idOrPart) as
      | Row
      | undefined;
    if (exact) return toSweep(exact);
    if (idOrPart.length < 4) return null;
    const rows = this.db
      .prepare("SELECT * FROM sweeps WHERE instr(id, ?) > 0 ORDER BY created_at LIMIT 3")
      .all(idOrPart) as Row[];
    if (rows.length > 1)
      throw new StoreError(
        "ambiguous-id",
        `"${idOrPart}" matches several sweeps (${rows.map((r) => r.id).join(", ")}); give more of the id`,
      );
    return rows[0] ? toSweep(rows[0]) : null;
  }

  list(): SweepRow[] {
    return (
      this.db.prepare("SELECT * FROM sweeps ORDER BY created_at DESC, pk DESC").all() as Row[]
    ).map(toSweep);
  }

  setState(id: string, state: SweepState): void {
    const changed = this.db
      .prepare("UPDATE sweeps SET state = ?, updated_at = ? WHERE id = ?")
      .run(state, nowIso(), id).changes;
    if (changed !== 1)
      throw new StoreError("not-found", `no sweep ${id} in the library ${this.store.home}`);
  }

  /** The sweep's member runs, oldest first (the expansion's order). */
  members(id: string): RunRecord[] {
    const ids = (
      this.db.prepare("SELECT id FROM runs WHERE sweep_id = ? ORDER BY pk").all(id) as {
        id: string;
      }[]
    ).map((r) => r.id);
    return ids.map((r) => this.store.getRun(r));
  }
}
