/**
 * Done 8 of the run-lifecycle issue: paths stay home. The renderer is
 * untrusted (docs/security.md), so `runs.start` through a host that serves it
 * refuses a checkpointDir anywhere, a dataDir outside the home and a dataset
 * given as a path; nothing outside the home is read, written or deleted.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startTraining } from "../../core/engine/worker-client.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";
import { look, type ServeHost, serve, tempHome, tinySpec } from "./hosts.js";

const outside = mkdtempSync(join(tmpdir(), "outside-home-"));
mkdirSync(join(outside, "data"));
writeFileSync(join(outside, "precious.txt"), "keep me");
const listing = () => readdirSync(outside, { recursive: true }).sort();
const before = listing();

const hosts: ServeHost[] = [];
afterAll(() => {
  for (const h of hosts) {
    h.client.close();
    h.kill("SIGTERM");
  }
});

const refusals: [string, Record<string, unknown>, RegExp][] = [
  ["checkpointDir outside", { checkpointDir: outside }, /checkpoints always live in the library/],
  ["checkpointDir inside", { checkpointDir: "runs/x" }, /checkpoints always live in the library/],
  ["dataDir absolute", { dataDir: join(outside, "data") }, /inside the SGD Studio home/],
  ["dataDir escaping", { dataDir: "../../.." }, /inside the SGD Studio home/],
  ["dataset as a path", { dataset: join(outside, "data") }, /is not one of default/],
];

describe("paths through the service API stay in the home", () => {
  it.each(refusals)("the web host refuses %s", async (_what, extra, message) => {
    if (hosts.length === 0) hosts.push(await serve(tempHome("paths-serve-")));
    const host = hosts[0] as ServeHost;
    const err = await host.client.call("runs.start", { spec: tinySpec(1, 1, extra) }).then(
      () => null,
      (e: { code?: string; message: string; field?: string }) => e,
    );
    expect(err?.code).toBe("invalid-params");
    expect(err?.message).toMatch(message);
    expect(listing()).toEqual(before);
  });

  it("nothing was queued or written by the refused calls; a dataDir inside the home is accepted", async () => {
    const home = tempHome("paths-inproc-");
    const service = new Service({
      home,
      runs: runMethods({ home, launch: startTraining, autoStart: false }),
    });
    for (const [, extra] of refusals)
      await expect(
        service.call("runs.start", { spec: tinySpec(1, 1, extra) }),
      ).rejects.toMatchObject({ code: "invalid-params" });
    expect(await service.call("runs.list", {})).toEqual([]);
    const ok = await service.call("runs.start", { spec: tinySpec(1, 1, { dataDir: "datasets" }) });
    expect(look(home, (s) => s.getRun(ok.id).spec.dataDir)).toBe(join(home, "datasets"));
    await service.close();
    expect(listing()).toEqual(before);
  });
});
