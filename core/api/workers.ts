/** Remote workers connected to the host's Redis queue (docs/remote.md): the result of `workers.list`. */

export interface WorkerInfo {
  /** The worker's id: host name, pid and a random part. */
  id: string;
  host: string;
  pid: number;
  /** Runs it trains at once. */
  concurrency: number;
  /** The backend it forces on every run (`worker --backend`), or null. */
  backend: string | null;
  startedAt: string;
  /** Its last heartbeat (every 5 s; it disappears 15 s after the last). */
  seenAt: string;
  /** Jobs (`<run id>.<attempt>`) it trains now. */
  jobs: string[];
}

export interface WorkersList {
  /** The Redis the host dispatches to (password hidden), or null when runs train locally. */
  redis: string | null;
  workers: WorkerInfo[];
}
