/**
 * The service object the hosts expose: `call(method, params)` validates the
 * payload against the contract and dispatches; `on(listener)` streams events.
 * Hosts never see anything but ServiceError on failure.
 */
import type { WorkersList } from "../api/workers.js";
import { applyPythonSetting } from "../engine/torch/python-setting.js";
import { applyWasmThreadsSetting } from "../engine/wasm-threads-setting.js";
import * as landscape from "../landscape/service.js";
import {
  type MethodName,
  type ParsedParams,
  type Result,
  ServiceError,
  type ServiceEvent,
  validateCall,
} from "./contract.js";
import { listDatasets } from "./datasets.js";
import type { RunManager } from "./run-manager.js";
import * as schedules from "./schedules.js";
import { Settings } from "./settings.js";

type Handler<M extends MethodName> = (params: ParsedParams<M>) => Promise<Result<M>> | Result<M>;
export type Handlers = { [M in MethodName]: Handler<M> };

/** The parts of the service that own state (the run library and queue). */
export interface RunMethods {
  handlers: Pick<Handlers, Extract<MethodName, `runs.${string}` | `sweeps.${string}`>>;
  close(): Promise<void> | void;
  /** The run lifecycle behind the handlers (in-process hosts: the CLI). */
  manager?: RunManager;
}

export interface ServiceOptions {
  /** Folder of the library and settings. */
  home: string;
  runs?: (emit: (event: ServiceEvent) => void) => RunMethods;
  /** The workers of the Redis queue runs are dispatched to (docs/remote.md); absent: runs train locally. */
  workers?: () => Promise<WorkersList>;
}

export class Service {
  private readonly listeners = new Set<(event: ServiceEvent) => void>();
  private readonly handlers: Handlers;
  private readonly runs: RunMethods | null;
  readonly settings: Settings;

  constructor(options: ServiceOptions) {
    this.settings = new Settings(options.home);
    applyWasmThreadsSetting(this.settings.get().wasmThreads);
    applyPythonSetting(this.settings.get().pythonPath);
    this.runs = options.runs ? options.runs((e) => this.emit(e)) : null;
    const notBuilt = (): never => {
      throw new ServiceError("internal", "the run library is not available in this host");
    };
    const runHandlers =
      this.runs?.handlers ??
      (Object.fromEntries(
        (
          [
            "runs.start",
            "runs.pause",
            "runs.resume",
            "runs.stop",
            "runs.list",
            "runs.get",
            "runs.metrics",
            "runs.tag",
            "runs.untag",
            "runs.note",
            "runs.rename",
            "runs.delete",
            "runs.export",
            "runs.import",
            "runs.sharpness",
            "runs.queue",
            "runs.queue.move",
            "sweeps.templates",
            "sweeps.validate",
            "sweeps.create",
            "sweeps.list",
            "sweeps.get",
            "sweeps.pause",
            "sweeps.resume",
            "sweeps.cancel",
            "sweeps.rerun",
            "sweeps.extend",
            "sweeps.cancelMember",
          ] as const
        ).map((m) => [m, notBuilt]),
      ) as unknown as RunMethods["handlers"]);
    this.handlers = {
      "schedules.validate": schedules.validate,
      "schedules.preview": schedules.preview,
      "schedules.presets": schedules.presets,
      "schedules.export": schedules.exportSchedule,
      "datasets.list": () => listDatasets(),
      // Loaded on demand: probing backends loads TensorFlow.js, which the other methods never need.
      "system.backends": async () =>
        (await (await import("../engine/backends.js")).doctorReport()).json,
      "system.settings.get": () => this.settings.get(),
      "system.settings.set": (p) => {
        const value = this.settings.set(p.settings);
        applyWasmThreadsSetting(value.wasmThreads);
        applyPythonSetting(value.pythonPath);
        return value;
      },
      "landscape.grid": landscape.grid,
      "landscape.experiment": landscape.experiment,
      "workers.list": () => options.workers?.() ?? { redis: null, workers: [] },
      ...runHandlers,
    };
  }

  /** Validates and runs one call. Every failure is a ServiceError. */
  async call<M extends MethodName>(method: M | string, params?: unknown): Promise<Result<M>> {
    const call = validateCall<M>(method, params);
    const handler = this.handlers[call.method] as Handler<M>;
    try {
      return await handler(call.params);
    } catch (err) {
      throw toServiceError(err);
    }
  }

  on(listener: (event: ServiceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: ServiceEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A failing listener (a closed socket) must not break the others.
      }
    }
  }

  /** The run lifecycle of this service, for in-process hosts (null without a library). */
  runManager(): RunManager | null {
    return this.runs?.manager ?? null;
  }

  async close(): Promise<void> {
    await this.runs?.close();
    this.listeners.clear();
  }
}

function toServiceError(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  const e = err as Error & { code?: unknown; field?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  if (code === "not-found" || code === "conflict") {
    return new ServiceError(code, e.message, typeof e.field === "string" ? e.field : undefined);
  }
  if (e?.name === "ScheduleError")
    return new ServiceError("invalid-schedule", e.message, "schedule");
  return new ServiceError("internal", e?.message ?? String(err));
}
