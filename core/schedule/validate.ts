/**
 * Turns unknown input (parsed JSON) into a Schedule, or a ScheduleError whose
 * issues each name the field path, the offending value and how to fix it.
 */
import type { z } from "zod";
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
  const text = JSON.stringify(value);
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

/** Validate a parsed JSON value as a schedule; throws ScheduleError. */
export function parseSchedule(input: unknown, source?: string): Schedule {
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
