import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { findEmbeddedAsset } from "./embedded.js";
import { FASHION_MNIST_SYSTEM_DIR } from "./fashion-mnist.js";
import { datasetSearchPaths, loadDataset } from "./registry.js";
import { packTar } from "./tar.js";

const tmp = mkdtempSync(join(tmpdir(), "sgd-registry-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cacheDir = join(tmp, "cache");
/** Options that keep the user's real cache and environment out of the tests. */
const isolated = { cacheDir, env: {} };
const fashionPresent = existsSync(join(FASHION_MNIST_SYSTEM_DIR, "train-images-idx3-ubyte.gz"));

function cifar10Batch(n: number, first: number): Buffer {
  const recs: Buffer[] = [];
  for (let i = first; i < first + n; i++) {
    const r = Buffer.alloc(3073, i & 255);
    r[0] = i % 10;
    recs.push(r);
  }
  return Buffer.concat(recs);
}

describe("loadDataset", () => {
  it('"default" is the embedded subset', async () => {
    const ds = await loadDataset("default", isolated);
    expect(ds.name).toBe("fashion-mnist-12k");
    expect(ds.source.kind).toBe("embedded");
    expect(ds.train.count).toBe(10_000);
  });

  it.skipIf(!fashionPresent)('finds "fashion-mnist" in /usr/share/datasets', async () => {
    const ds = await loadDataset("fashion-mnist", isolated);
    expect(ds.source.path).toBe(FASHION_MNIST_SYSTEM_DIR);
    expect(ds.train.count).toBe(60_000);
  });

  it.skipIf(!fashionPresent)(
    "prefers dataDir, then SGD_STUDIO_DATA_DIR, over system folders",
    async () => {
      const dataDir = join(tmp, "data");
      mkdirSync(join(dataDir, "fashion-mnist"), { recursive: true });
      for (const f of readdirSync(FASHION_MNIST_SYSTEM_DIR)) {
        symlinkSync(join(FASHION_MNIST_SYSTEM_DIR, f), join(dataDir, "fashion-mnist", f));
      }
      const ds = await loadDataset("fashion-mnist", { ...isolated, dataDir });
      expect(ds.source.path).toBe(join(dataDir, "fashion-mnist"));
      const viaEnv = datasetSearchPaths("fashion-mnist", {
        cacheDir,
        env: { SGD_STUDIO_DATA_DIR: dataDir },
      });
      expect(viaEnv).toEqual([
        join(dataDir, "fashion-mnist"),
        join(cacheDir, "fashion-mnist"),
        FASHION_MNIST_SYSTEM_DIR,
      ]);
    },
  );

  it("says where it looked and how to get CIFAR-10", async () => {
    const err = await loadDataset("cifar10", isolated).catch((e) => e);
    expect(err.message).toContain('dataset "cifar10" not found. Looked in:');
    expect(err.message).toContain(`${join(cacheDir, "cifar-10-batches-bin")} (does not exist)`);
    expect(err.message).toContain(`${join(cacheDir, "cifar-10-binary.tar.gz")} (does not exist)`);
    expect(err.message).toContain("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
    expect(err.message).toContain("md5 c32a1d4ab5d03f1284b67883e8d87530");
    expect(err.message).toContain("download: true");
    const c100 = await loadDataset("cifar100", isolated).catch((e) => e);
    expect(c100.message).toContain("md5 03b5dce01913d631647c71ecec9e9cb8");
  });

  it("says which files an incomplete MNIST folder lacks", async () => {
    const dataDir = join(tmp, "partial");
    mkdirSync(join(dataDir, "mnist"), { recursive: true });
    writeFileSync(join(dataDir, "mnist", "train-images-idx3-ubyte.gz"), "");
    const err = await loadDataset("mnist", { ...isolated, dataDir }).catch((e) => e);
    expect(err.message).toContain(
      `${join(dataDir, "mnist")} (missing train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz))`,
    );
    expect(err.message).toContain("/usr/share/datasets/mnist (does not exist)");
    expect(err.message).toContain("f68b3c2dcbeaaa9fbdd348bbdeb94873");
  });

  it("suggests the Debian package and the official files for Fashion-MNIST", async () => {
    const err = await loadDataset("fashion-mnist", { ...isolated, systemDirs: false }).catch(
      (e) => e,
    );
    expect(err.message).toContain(`${join(cacheDir, "fashion-mnist")} (does not exist)`);
    expect(err.message).not.toContain(FASHION_MNIST_SYSTEM_DIR);
    expect(err.message).toContain("apt-get install dataset-fashion-mnist");
    expect(err.message).toContain(
      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz (md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d)",
    );
    if (!fashionPresent) {
      const sys = await loadDataset("fashion-mnist", isolated).catch((e) => e);
      expect(sys.message).toContain(`${FASHION_MNIST_SYSTEM_DIR} (does not exist)`);
    }
  });

  it("finds a CIFAR-10 archive in the cache folder", async () => {
    mkdirSync(cacheDir, { recursive: true });
    const entries = [1, 2, 3, 4, 5].map((b) => ({
      name: `cifar-10-batches-bin/data_batch_${b}.bin`,
      data: cifar10Batch(2, 2 * (b - 1)),
    }));
    entries.push({ name: "cifar-10-batches-bin/test_batch.bin", data: cifar10Batch(3, 50) });
    writeFileSync(join(cacheDir, "cifar-10-binary.tar.gz"), gzipSync(packTar(entries)));
    const ds = await loadDataset("cifar10", { ...isolated, recordCounts: "any" });
    expect(ds.source).toMatchObject({
      kind: "cifar-archive",
      path: join(cacheDir, "cifar-10-binary.tar.gz"),
    });
    expect([...ds.train.labels]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ds.test.count).toBe(3);
    // The official-size check applies by default.
    await expect(loadDataset("cifar10", isolated)).rejects.toThrow(/expected 10,000 records/);
  });

  it("loads by path, detecting the format", async () => {
    const dir = join(tmp, "my-cifar");
    mkdirSync(dir);
    for (let b = 1; b <= 5; b++)
      writeFileSync(join(dir, `data_batch_${b}.bin`), cifar10Batch(1, b));
    writeFileSync(join(dir, "test_batch.bin"), cifar10Batch(1, 9));
    const ds = await loadDataset(dir, { recordCounts: "any" });
    expect(ds.name).toBe("cifar10");
    expect([...ds.train.labels]).toEqual([1, 2, 3, 4, 5]);
    const asset = findEmbeddedAsset() as string;
    expect((await loadDataset(asset)).train.count).toBe(10_000);
  });

  it("rejects unknown names", async () => {
    await expect(loadDataset("imagenet", isolated)).rejects.toThrow(
      'unknown dataset "imagenet": not one of default, fashion-mnist, mnist, cifar10, cifar100, cifar100-coarse, and no file or folder of that name exists',
    );
  });
});
