// electron-builder.yml against electron-builder's own schema, the icon, and package.json's entry.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { drawIcon, encodePng } from "./tools/make-icon.js";

const root = new URL("../", import.meta.url);
// electron-builder's own YAML parser and validator (its dependencies, so resolved through it).
const builderRequire = createRequire(createRequire(root).resolve("electron-builder"));
const yaml = builderRequire("js-yaml") as { load(text: string): unknown };
const { validateConfiguration } = builderRequire("app-builder-lib/out/util/config/config.js") as {
  validateConfiguration(config: unknown, logger: unknown): Promise<void>;
};

const config = yaml.load(readFileSync(new URL("electron-builder.yml", root), "utf8")) as Record<
  string,
  // biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document
  any
>;
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));

describe("electron-builder.yml", () => {
  it("is valid for electron-builder", async () => {
    await expect(
      validateConfiguration(config, { add() {}, isEnabled: false }),
    ).resolves.toBeUndefined();
  });

  it("builds SGD Studio for Linux (AppImage, deb), Windows (NSIS) and macOS (dmg)", () => {
    expect(config.appId).toMatch(/^[a-z0-9.-]+$/);
    expect(config.productName).toBe("SGD Studio");
    expect(config.linux.target).toEqual(["AppImage", "deb"]);
    expect(config.win.target).toEqual(["nsis"]);
    expect(config.mac.target).toEqual(["dmg"]);
    expect(config.files).toEqual(expect.arrayContaining(["dist/**", "assets/**", "package.json"]));
  });

  it("unpacks native modules and the wasm files, and rebuilds for Electron's ABI", () => {
    expect(config.npmRebuild).toBe(true);
    expect(config.asarUnpack).toEqual(
      expect.arrayContaining([
        "**/*.node",
        "node_modules/better-sqlite3/**",
        "node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm",
      ]),
    );
    expect(config.electronFuses).toMatchObject({ runAsNode: false, onlyLoadAppFromAsar: true });
  });

  it("package.json's main is the compiled Electron main process", () => {
    expect(pkg.main).toBe("dist/electron/main.js");
  });
});

describe("the icon", () => {
  it("is the 512x512 PNG the generator draws", () => {
    const file = new URL(config.linux.icon, root);
    expect(existsSync(file)).toBe(true);
    const png = readFileSync(file);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([512, 512]);
    expect(png.equals(encodePng(512, 512, drawIcon()))).toBe(true);
  });
});
