// Why a worker ended without a report, in words: the cause, not unrelated stderr.
import { describe, expect, it } from "vitest";
import { endedWithoutReport } from "./worker-client.js";

describe("endedWithoutReport", () => {
  it("a signal names the signal and ignores stderr noise", () => {
    const text = endedWithoutReport(
      null,
      "SIGKILL",
      "(node:12) ExperimentalWarning: something\nHi, looks like you are running TensorFlow.js in Node.js",
    );
    expect(text).toBe(
      "the training worker was killed by SIGKILL (by a user or the system, e.g. its out-of-memory killer)",
    );
  });

  it("an exit code gives the error line of an uncaught exception, not warnings or banners", () => {
    const stderr = [
      "============================",
      "Hi, looks like you are running TensorFlow.js in Node.js. To speed things up dramatically, install our node backend",
      "(node:5) Warning: Setting the NODE_TLS_REJECT_UNAUTHORIZED",
      "file:///x/worker.js:10",
      "    throw new Error('boom');",
      "Error: boom",
      "    at file:///x/worker.js:10:11",
    ].join("\n");
    expect(endedWithoutReport(1, null, stderr)).toBe(
      "the training worker exited with code 1 before finishing: Error: boom",
    );
    expect(endedWithoutReport(3, null, "just chatter\n")).toBe(
      "the training worker exited with code 3 before finishing",
    );
  });
});
