// electron-builder.yml against electron-builder's own schema, the icon, and package.json's entry.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

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
        "node_modules/@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd*.js",
      ]),
    );
    expect(config.electronFuses).toMatchObject({ runAsNode: false, onlyLoadAppFromAsar: true });
  });

  it("package.json's main is the compiled Electron main process", () => {
    expect(pkg.main).toBe("dist/electron/main.js");
  });
});

describe("the icon", () => {
  const size = (file: URL) => {
    const png = readFileSync(file);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    return [png.readUInt32BE(16), png.readUInt32BE(20)];
  };

  it("has its SVG source and every PNG size the targets need (scripts/make-icons.ts)", () => {
    expect(readFileSync(new URL("assets/icon.svg", root), "utf8")).toMatch(
      /<svg[^>]+viewBox="0 0 512 512"/,
    );
    for (const n of [16, 24, 32, 48, 64, 128, 256, 512]) {
      expect(size(new URL(`${config.linux.icon}/${n}x${n}.png`, root))).toEqual([n, n]);
    }
    // Windows and macOS icons are made from one large PNG.
    for (const target of [config.win.icon, config.mac.icon]) {
      expect(size(new URL(target, root))).toEqual([1024, 1024]);
    }
  });

  it("ships the embedded dataset as an extra resource, outside app.asar", () => {
    const extra = config.extraResources as { from: string; to: string }[];
    expect(extra).toContainEqual({
      from: "assets/fashion-mnist-12k.sgdds.gz",
      to: "assets/fashion-mnist-12k.sgdds.gz",
    });
    expect(existsSync(new URL("assets/fashion-mnist-12k.sgdds.gz", root))).toBe(true);
    expect(config.files).toContain("!assets/*.sgdds.gz");
  });

  it("ships the torch engine's Python package as an extra resource, where the engine looks for it", async () => {
    const extra = config.extraResources as { from: string; to: string; filter?: string[] }[];
    const entry = extra.find((e) => e.from === "python/sgd_studio_torch");
    expect(entry?.to).toBe("python/sgd_studio_torch");
    // The package's modules all match the filter (only .py files: no caches).
    expect(entry?.filter).toEqual(["**/*.py"]);
    const dir = new URL("python/sgd_studio_torch/", root);
    expect(readdirSync(dir).filter((f) => f.endsWith(".py"))).toContain("__init__.py");
    // A packaged app's resources folder laid out as electron-builder copies it: the engine finds it there.
    const { torchPackageRoot } = await import("../core/engine/torch/python.js");
    const resources = mkdtempSync(join(tmpdir(), "sgd-resources-"));
    cpSync(fileURLToPath(dir), join(resources, "python", "sgd_studio_torch"), { recursive: true });
    expect(torchPackageRoot(import.meta.url, resources)).toBe(join(resources, "python"));
    // Without one (development, CLI), the repository's python/.
    expect(torchPackageRoot(import.meta.url, undefined)).toBe(
      fileURLToPath(new URL("python", root)),
    );
  });
});
