/**
 * Runs an async job one request at a time, for the latest request: while one
 * runs, newer requests replace each other and only the last of them runs next.
 * Results arrive in request order, so a slow answer never overwrites a newer
 * one, and a stream of requests (a preview per mouse move while dragging)
 * still shows a result after every job.
 */
export function latestOnly<A, R>(
  job: (arg: A) => Promise<R>,
  done: (result: R, arg: A) => void,
  failed: (error: unknown, arg: A) => void,
): { request(arg: A): void; readonly busy: boolean } {
  let running = false;
  let queued: { arg: A } | null = null;
  const run = (arg: A) => {
    running = true;
    job(arg)
      .then(
        (r) => done(r, arg),
        (e) => failed(e, arg),
      )
      .finally(() => {
        running = false;
        const next = queued;
        queued = null;
        if (next) run(next.arg);
      });
  };
  return {
    request(arg: A) {
      if (running) queued = { arg };
      else run(arg);
    },
    get busy() {
      return running || queued !== null;
    },
  };
}
