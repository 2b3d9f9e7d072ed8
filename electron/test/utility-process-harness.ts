/**
 * Runs a utility-process entry (argv[2]) in a plain Node child process, for
 * tests: `process.parentPort` is emulated on top of the child_process IPC
 * channel. Messages to the port arrive wrapped as {__port: data} and messages
 * from it leave as {__toParent: data}, so they never mix with the IPC traffic
 * the entry itself may see. Like Electron's port, it queues messages until a
 * listener is attached.
 */
import { EventEmitter } from "node:events";
import { pathToFileURL } from "node:url";

const realSend = process.send?.bind(process);
if (!realSend) throw new Error("the harness must be started with an IPC channel");

const port = Object.assign(new EventEmitter(), {
  postMessage(message: unknown) {
    realSend({ __toParent: message });
  },
});
const pending: unknown[] = [];
port.on("newListener", (event) => {
  if (event === "message") {
    setImmediate(() => {
      for (const data of pending.splice(0)) port.emit("message", { data });
    });
  }
});
process.on("message", (raw: unknown) => {
  if (typeof raw !== "object" || raw === null || !("__port" in raw)) return;
  const data = (raw as { __port: unknown }).__port;
  if (port.listenerCount("message") > 0) port.emit("message", { data });
  else pending.push(data);
});
(process as unknown as { parentPort: unknown }).parentPort = port;

const entry = process.argv[2];
if (!entry) throw new Error("usage: utility-process-harness <entry>");
await import(pathToFileURL(entry).href);
