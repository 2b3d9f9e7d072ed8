/**
 * User settings, one JSON file in the SGD Studio home folder. Unknown keys are
 * refused so a typo does not silently do nothing; the file is replaced
 * atomically so a crash never leaves it half written.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ServiceError } from "../api/contract.js";
import { BACKEND_CHOICES } from "../api/lists.js";

export const SettingsSchema = z.strictObject({
  /** Backend for new runs ("auto" picks the best available). */
  backend: z.enum(BACKEND_CHOICES).default("auto"),
  /** Folder searched first for datasets. */
  dataDir: z.string().nullable().default(null),
  /** Default dataset, model and schedule of a new run. */
  dataset: z.string().default("default"),
  model: z.string().default("mlp"),
  schedule: z.string().default("paper-hybrid"),
  theme: z.enum(["system", "light", "dark"]).default("system"),
  /**
   * Threads of the wasm backend: "auto" (physical cores less one) or a number;
   * reaches training through SGD_STUDIO_WASM_THREADS (core/engine/wasm-threads-setting.ts).
   */
  wasmThreads: z.union([z.literal("auto"), z.number().int().min(1).max(64)]).default("auto"),
  /**
   * The Python of the torch engine (null: found automatically); reaches
   * training through SGD_STUDIO_PYTHON (core/engine/torch/python-setting.ts).
   */
  pythonPath: z
    .string()
    .min(1, { error: "pythonPath must name a Python interpreter, or be null" })
    .nullable()
    .default(null),
});
export type SettingsValue = z.output<typeof SettingsSchema>;

export class Settings {
  private readonly file: string;

  constructor(private readonly home: string) {
    this.file = join(home, "settings.json");
  }

  get(): SettingsValue {
    if (!existsSync(this.file)) return SettingsSchema.parse({});
    try {
      return SettingsSchema.parse(JSON.parse(readFileSync(this.file, "utf8")));
    } catch {
      // A damaged settings file falls back to defaults rather than blocking the app.
      return SettingsSchema.parse({});
    }
  }

  set(patch: Record<string, unknown>): SettingsValue {
    const result = SettingsSchema.safeParse({ ...this.get(), ...patch });
    if (!result.success) {
      const issue = result.error.issues[0];
      const field = issue?.code === "unrecognized_keys" ? issue.keys[0] : issue?.path.join(".");
      const what = issue?.code === "unrecognized_keys" ? "unknown setting" : issue?.message;
      throw new ServiceError("invalid-params", `settings.${field}: ${what}`, `settings.${field}`);
    }
    mkdirSync(this.home, { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(result.data, null, 2));
    renameSync(tmp, this.file);
    return result.data;
  }
}
