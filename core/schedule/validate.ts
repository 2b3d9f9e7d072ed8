/**
 * Turns unknown input (parsed JSON) into a Schedule, or a ScheduleError whose
 * issues each name the field path, the offending value and how to fix it.
 */
import type { z } from "zod";
import { MAX_DOCUMENT_DEPTH, MAX_SCHEDULE_DEPTH } from "./limits.js";
import { type Schedule, ScheduleSchema } from "./spec.js";

export interface ScheduleIssue {
  /** Field path in the document, e.g. `lr.milestones[1]`. */
  path: string;
  /** The value found there (undefined when the field is missing). */
  value: unknown;
  /** What is wrong and how to fix it. */
  message: string;
}

export class ScheduleError extends Error {
  readonly issues: ScheduleIssue[];
  constructor(issues: ScheduleIssue[], source?: string) {
    const where = source ? `${source}: ` : "";
    const lines = issues.map(
      (i) =>
        `  ${i.path || "(document)"}${i.value === undefined ? "" : ` = ${show(i.value)}`}: ${i.message}`,
    );
    super(`${where}invalid schedule\n${lines.join("\n")}`);
    this.name = "ScheduleError";
    this.issues = issues;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function show(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // Too deep or circular (a programmatic input): no value is better than a crash.
    return "(a value too deeply nested to show)";
  }
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function toIssues(error: z.ZodError, input: unknown): ScheduleIssue[] {
  const out: ScheduleIssue[] = [];
  for (const iss of error.issues) {
    if (iss.code === "unrecognized_keys") {
      for (const key of iss.keys) {
        const path = [...iss.path, key];
        out.push({
          path: formatPath(path),
          value: valueAt(input, path),
          message: `unknown field "${key}"; check its spelling against docs/schedules.md or remove it`,
        });
      }
      continue;
    }
    out.push({
      path: formatPath(iss.path),
      value: valueAt(input, iss.path),
      message: iss.message,
    });
  }
  return out;
}

interface Node {
  value: unknown;
  parent: Node | null;
  key: PropertyKey;
  depth: number;
}

function pathOf(node: Node): PropertyKey[] {
  const path: PropertyKey[] = [];
  for (let n: Node | null = node; n?.parent; n = n.parent) path.push(n.key);
  return path.reverse();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Checks, without recursion, that schedules nest at most MAX_SCHEDULE_DEPTH
 * levels and the document at most MAX_DOCUMENT_DEPTH, so that the recursive
 * schema (and anything else that walks the document) never sees a document
 * deep enough to overflow the stack. Returns the first problem, or null.
 */
export function checkScheduleDepth(input: unknown): ScheduleIssue | null {
  if (!isObject(input)) return null;
  // Schedules inside schedules: lr, then warmup `schedule` or sequence `pieces[i].schedule`.
  const root: Node = { value: input, parent: null, key: "", depth: 0 };
  const schedules: Node[] = [];
  if (isObject(input.lr)) schedules.push({ value: input.lr, parent: root, key: "lr", depth: 1 });
  while (schedules.length > 0) {
    const node = schedules.pop() as Node;
    if (node.depth > MAX_SCHEDULE_DEPTH) {
      return {
        path: formatPath(pathOf(node)),
        value: undefined,
        message: `schedules are nested more than ${MAX_SCHEDULE_DEPTH} levels deep here (warmup and sequence schedules inside each other); the limit is ${MAX_SCHEDULE_DEPTH} levels (MAX_SCHEDULE_DEPTH): flatten it, e.g. put the pieces of nested sequences in one sequence`,
      };
    }
    const s = node.value as Record<string, unknown>;
    if (isObject(s.schedule)) {
      schedules.push({ value: s.schedule, parent: node, key: "schedule", depth: node.depth + 1 });
    }
    if (Array.isArray(s.pieces)) {
      const pieces: Node = { value: s.pieces, parent: node, key: "pieces", depth: node.depth };
      s.pieces.forEach((piece: unknown, i) => {
        if (isObject(piece) && isObject(piece.schedule)) {
          const holder: Node = { value: piece, parent: pieces, key: i, depth: node.depth };
          schedules.push({
            value: piece.schedule,
            parent: holder,
            key: "schedule",
            depth: node.depth + 1,
          });
        }
      });
    }
  }
  // Any other nesting (e.g. under an unknown field), counted in objects and arrays.
  const seen = new Set<object>();
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    const value = node.value as object;
    if (seen.has(value)) continue;
    seen.add(value);
    if (node.depth >= MAX_DOCUMENT_DEPTH) {
      return {
        path: formatPath(pathOf(node)),
        value: undefined,
        message: `the document is nested more than ${MAX_DOCUMENT_DEPTH} levels deep here (objects and arrays); the limit is ${MAX_DOCUMENT_DEPTH} (MAX_DOCUMENT_DEPTH) and no schedule needs that many: remove the nested value`,
      };
    }
    const entries: [PropertyKey, unknown][] = Array.isArray(value)
      ? value.map((v, i): [number, unknown] => [i, v])
      : Object.entries(value);
    for (const [key, child] of entries) {
      if (child !== null && typeof child === "object") {
        stack.push({ value: child, parent: node, key, depth: node.depth + 1 });
      }
    }
  }
  return null;
}

/** Validate a parsed JSON value as a schedule; throws ScheduleError. */
export function parseSchedule(input: unknown, source?: string): Schedule {
  const tooDeep = checkScheduleDepth(input);
  if (tooDeep) throw new ScheduleError([tooDeep], source);
  const result = ScheduleSchema.safeParse(input);
  if (!result.success) throw new ScheduleError(toIssues(result.error, input), source);
  return result.data;
}

/** Parse schedule JSON text; a syntax error is reported as a ScheduleError too. */
export function parseScheduleJson(text: string, source?: string): Schedule {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ScheduleError(
      [
        {
          path: "",
          value: undefined,
          message: `not valid JSON (${(err as Error).message}); fix the syntax`,
        },
      ],
      source,
    );
  }
  return parseSchedule(value, source);
}
