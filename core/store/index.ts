/** The run library (SQLite): see docs/storage.md. */
export { collectEnvironment, type Environment } from "./environment.js";
export { StoreError, type StoreErrorCode } from "./errors.js";
export { defaultHomeDir, isValidRunId, libraryPaths, resolveHome, runDir } from "./paths.js";
export {
  type BestAndFinal,
  defaultMode,
  type MetricKeyInfo,
  type MetricPoint,
  type MetricSeries,
  type MetricsQuery,
  type XAxis,
} from "./queries.js";
export { type RecorderOptions, RunRecorder, type ScalarPoint } from "./recorder.js";
export { APPLICATION_ID, MIGRATIONS, type Migration, SCHEMA_VERSION } from "./schema.js";
export {
  ACTIVE,
  canTransition,
  RESUMABLE,
  RUN_STATUSES,
  type RunStatus,
  TRANSITIONS,
} from "./states.js";
export {
  type CheckpointRecord,
  type CreateRunOptions,
  newRunId,
  type RunError,
  type RunFilter,
  type RunRecord,
  RunStore,
} from "./store.js";
export {
  CSV_HEADER,
  csvChunks,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportDocument,
  type ExportFormat,
  type ImportOptions,
  type ImportResult,
  parseExport,
} from "./transfer.js";
