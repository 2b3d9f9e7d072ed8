/** Resolves a `<file.json | preset-name>` argument to a validated schedule. */
import { existsSync, readFileSync, statSync } from "node:fs";
import {
  findPreset,
  PRESETS,
  parseSchedule,
  parseScheduleJson,
  type Schedule,
} from "../core/schedule/index.js";
import { CliError } from "./io.js";

export function loadScheduleArg(arg: string): Schedule {
  if (existsSync(arg) && statSync(arg).isFile()) {
    return parseScheduleJson(readFileSync(arg, "utf8"), arg);
  }
  const preset = findPreset(arg);
  if (preset) return parseSchedule(preset.schedule, `preset ${preset.name}`);
  const looksLikePath = arg.includes("/") || arg.endsWith(".json");
  throw new CliError(
    looksLikePath
      ? `schedule file not found: ${arg}`
      : `no schedule file or preset named "${arg}"; presets: ${PRESETS.map((p) => p.name).join(", ")}`,
  );
}
