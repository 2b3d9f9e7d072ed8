/**
 * The service contract lives in core/api (contract.ts: methods, params,
 * results, events, errors; records.ts: runs and metric series). Re-exported
 * here for core's own modules.
 */
export * from "../api/contract.js";
export type {
  CheckpointRecord,
  MetricKeyInfo,
  MetricSeries,
  RunDetails,
  RunRecord,
  RunSummary,
} from "../api/records.js";
