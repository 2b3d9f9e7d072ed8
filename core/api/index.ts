/**
 * The typed contract between SGD Studio's hosts (Electron main and preload,
 * `serve`, the CLI), its renderer and core: service methods (params and
 * results), events, run records, metric series, the run spec, and the lists
 * of models, optimizers, backends, datasets and run statuses.
 *
 * No TensorFlow.js, no SQLite, nothing that trains (api.test.ts checks the
 * import graph), so anything may import it. The renderer imports types from
 * here and values only from lists.ts (plain constants).
 */
export * from "./contract.js";
export type * from "./doctor.js";
export type * from "./events.js";
export * from "./lists.js";
export type * from "./records.js";
export * from "./sharpness.js";
export * from "./spec.js";
export * from "./sweep.js";
export type * from "./workers.js";
