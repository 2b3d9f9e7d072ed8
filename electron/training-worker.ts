/**
 * Entry point of the training worker in Electron (a utility process started by
 * training-process.ts). A utility process talks to its parent through
 * `process.parentPort` rather than `process.send` / `process.on("message")`,
 * which is what core/engine/worker.ts uses under child_process.fork. This file
 * adapts one to the other and then runs that same worker, so the training
 * code is the same in every host.
 */

/** The part of Electron's ParentPort used here (the `message` event carries `{data}`). */
interface ParentPortLike {
  on(event: "message", listener: (event: { data: unknown }) => void): unknown;
  removeAllListeners(event?: string): unknown;
  postMessage(message: unknown): void;
}

const port = (process as unknown as { parentPort?: ParentPortLike }).parentPort;
if (!port) {
  throw new Error("training-worker must run in an Electron utility process (no parentPort)");
}

/** After the last message, let it reach the parent, then end (core's worker calls disconnect). */
const EXIT_GRACE_MS = 1000;

process.send = ((message: unknown, ...rest: unknown[]) => {
  port.postMessage(message);
  // Like child_process's send: the callback (last argument) runs once the message is handed over.
  const callback = rest.findLast((a) => typeof a === "function") as (() => void) | undefined;
  if (callback) setImmediate(callback);
  return true;
}) as typeof process.send;
Object.defineProperty(process, "connected", { value: true, configurable: true });
process.disconnect = () => {
  port.removeAllListeners("message");
  setTimeout(() => process.exit(0), EXIT_GRACE_MS);
};

// Load the worker first so its `process.on("message")` listener exists: the
// parent port queues messages until a listener is attached to it below.
await import("../core/engine/worker.js");

port.on("message", ({ data }) => {
  process.emit("message", data, undefined);
});
