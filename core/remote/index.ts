/** Remote training over BullMQ on Redis (docs/remote.md). */
export {
  checkReachable,
  checkRedisUrl,
  connect,
  REDIS_URL_ENV,
  RedisUrlError,
  redactUrl,
} from "./connection.js";
export { checkJob, JobRefused, type RemoteJob } from "./job.js";
export { type RemoteLauncher, remoteLauncher } from "./launcher.js";
export { type RemoteWorker, startRemoteWorker } from "./worker.js";
export { listWorkers, type WorkerInfo } from "./workers.js";
