// The app's wasmThreads setting reaches training through SGD_STUDIO_WASM_THREADS,
// which the host sets from it (unless the user set the variable before it started).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Service } from "../service/service.js";
import { WASM_THREADS_ENV } from "./wasm-threads-setting.js";

const fromUser = process.env[WASM_THREADS_ENV];
afterEach(() => {
  if (fromUser === undefined) delete process.env[WASM_THREADS_ENV];
  else process.env[WASM_THREADS_ENV] = fromUser;
});

describe("the wasmThreads setting", () => {
  it.skipIf(fromUser !== undefined)(
    "sets the variable the training worker inherits, when the service starts and when it changes",
    async () => {
      const home = mkdtempSync(join(tmpdir(), "threads-setting-"));
      const service = new Service({ home });
      expect((await service.call("system.settings.get", {})).wasmThreads).toBe("auto");
      expect(process.env[WASM_THREADS_ENV]).toBeUndefined();
      await service.call("system.settings.set", { settings: { wasmThreads: 3 } });
      expect(process.env[WASM_THREADS_ENV]).toBe("3");
      // A new host on the same home applies it at start.
      delete process.env[WASM_THREADS_ENV];
      new Service({ home });
      expect(process.env[WASM_THREADS_ENV]).toBe("3");
      await service.call("system.settings.set", { settings: { wasmThreads: "auto" } });
      expect(process.env[WASM_THREADS_ENV]).toBeUndefined();
    },
  );

  it("refuses a count that is not auto or a whole number from 1 to 64", async () => {
    const service = new Service({ home: mkdtempSync(join(tmpdir(), "threads-setting-")) });
    for (const bad of [0, 2.5, "many", 65]) {
      await expect(
        service.call("system.settings.set", { settings: { wasmThreads: bad } }),
      ).rejects.toMatchObject({ field: "settings.wasmThreads" });
    }
  });
});
