/**
 * Uses the real Fashion-MNIST files from the Debian package
 * dataset-fashion-mnist when installed (CI installs it).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_SYSTEM_DIR,
  findSystemFashionMnist,
  loadFashionMnist,
} from "./fashion-mnist.js";
import { findIdxFiles } from "./idx-folder.js";
import { loadMnist } from "./mnist.js";
import type { Dataset } from "./types.js";

const sys = FASHION_MNIST_SYSTEM_DIR;
const present = existsSync(join(sys, "train-images-idx3-ubyte.gz"));
const src = (name: string) => join(sys, name);

function histogram(labels: Uint8Array, n: number): number[] {
  const h = new Array<number>(n).fill(0);
  for (const l of labels) h[l] = (h[l] as number) + 1;
  return h;
}

describe.skipIf(!present)("Fashion-MNIST from the Debian package", () => {
  let ds: Dataset;
  const tmp = mkdtempSync(join(tmpdir(), "sgd-fmnist-"));
  beforeAll(async () => {
    ds = await loadFashionMnist();
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("is found automatically", () => {
    expect(findSystemFashionMnist()).toBe(sys);
  });

  it("has the official counts, shape and classes", () => {
    expect(ds.train.count).toBe(60_000);
    expect(ds.test.count).toBe(10_000);
    expect(ds.train.images.length).toBe(60_000 * 784);
    expect(ds.test.labels.length).toBe(10_000);
    expect(ds.shape).toEqual([28, 28, 1]);
    expect(ds.classes).toEqual([...FASHION_MNIST_CLASSES]);
    expect(ds.source.kind).toBe("idx-folder");
    expect(ds.source.description).toMatch(/MIT/);
  });

  it("has 6,000 train and 1,000 test images per class", () => {
    expect(histogram(ds.train.labels, 10)).toEqual(new Array(10).fill(6000));
    expect(histogram(ds.test.labels, 10)).toEqual(new Array(10).fill(1000));
  });

  it("has the known first labels", () => {
    expect([...ds.train.labels.subarray(0, 10)]).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect([...ds.test.labels.subarray(0, 10)]).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  });

  it("has the well-known training mean and std", () => {
    expect(ds.stats.mean[0]).toBeCloseTo(0.286, 3);
    expect(ds.stats.std[0]).toBeCloseTo(0.353, 3);
  });

  /**
   * A folder of symlinks to the system files; `edit` replaces some through
   * `put`, which removes the link first (never writing through it).
   */
  function copyWith(
    name: string,
    edit: (put: (file: string, data: Uint8Array) => void) => void,
  ): string {
    const d = join(tmp, name);
    mkdirSync(d);
    for (const f of readdirSync(sys)) symlinkSync(join(sys, f), join(d, f));
    edit((file, data) => {
      rmSync(join(d, file), { force: true });
      writeFileSync(join(d, file), data);
    });
    return d;
  }

  it("loads uncompressed files identically to the gzipped ones", async () => {
    const d = copyWith("plain", (put) => {
      for (const f of ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]) {
        put(f, gunzipSync(readFileSync(src(`${f}.gz`))));
        rmSync(join(tmp, "plain", `${f}.gz`));
      }
    });
    const plain = await loadMnist(d);
    expect(findIdxFiles(d).found?.testImages).toBe(join(d, "t10k-images-idx3-ubyte"));
    expect(plain.name).toBe("mnist");
    expect(Buffer.compare(plain.test.images, ds.test.images)).toBe(0);
    expect(Buffer.compare(plain.test.labels, ds.test.labels)).toBe(0);
  });

  it("reports a truncated image file with expected and found sizes", async () => {
    const d = copyWith("trunc", (put) => {
      const raw = gunzipSync(readFileSync(src("train-images-idx3-ubyte.gz")));
      rmSync(join(tmp, "trunc", "train-images-idx3-ubyte.gz"));
      put("train-images-idx3-ubyte", raw.subarray(0, 1000));
    });
    await expect(loadFashionMnist(d)).rejects.toThrow(
      `${join(d, "train-images-idx3-ubyte")}: truncated: expected 47,040,016 bytes (header says 60,000 images of 28x28 plus 16 header bytes), found 1,000`,
    );
  });

  it("reports a cut-off gzip file", async () => {
    const d = copyWith("cut-gz", (put) => {
      const gz = readFileSync(src("t10k-images-idx3-ubyte.gz"));
      put("t10k-images-idx3-ubyte.gz", gz.subarray(0, gz.length >> 1));
    });
    await expect(loadFashionMnist(d)).rejects.toThrow(
      /t10k-images-idx3-ubyte\.gz: gzip data is truncated or corrupt/,
    );
  });

  it("reports a mislabelled test set (label >= 10)", async () => {
    const d = copyWith("badlabel", (put) => {
      const raw = gunzipSync(readFileSync(src("t10k-labels-idx1-ubyte.gz")));
      raw[8 + 1234] = 10;
      put("t10k-labels-idx1-ubyte.gz", gzipSync(raw));
    });
    await expect(loadFashionMnist(d)).rejects.toThrow(
      /t10k-labels-idx1-ubyte\.gz: label 10 at index 1,234 is out of range: expected 0\.\.9/,
    );
  });

  it("reports swapped image and label files", async () => {
    const d = copyWith("swapped", (put) => {
      put("t10k-images-idx3-ubyte.gz", readFileSync(src("t10k-labels-idx1-ubyte.gz")));
    });
    await expect(loadFashionMnist(d)).rejects.toThrow(
      /found 2049 \(idx1 labels\); are the image and label files swapped/,
    );
  });

  it("reports label/image count mismatches", async () => {
    const d = copyWith("short-labels", (put) => {
      const raw = gunzipSync(readFileSync(src("t10k-labels-idx1-ubyte.gz")));
      const cut = Buffer.from(raw.subarray(0, 8 + 9000));
      cut.writeUInt32BE(9000, 4);
      put("t10k-labels-idx1-ubyte.gz", gzipSync(cut));
    });
    await expect(loadFashionMnist(d)).rejects.toThrow(
      /label count differs from image count: .*t10k-labels-idx1-ubyte\.gz has 9,000 labels, .*t10k-images-idx3-ubyte\.gz has 10,000 images/,
    );
  });
});

describe("folder checks", () => {
  it("lists the missing files", async () => {
    const d = mkdtempSync(join(tmpdir(), "sgd-empty-"));
    try {
      await expect(loadFashionMnist(d)).rejects.toThrow(
        /not a fashion-mnist folder: missing train-images-idx3-ubyte\(\.gz\), train-labels-idx1-ubyte\(\.gz\), t10k-images-idx3-ubyte\(\.gz\), t10k-labels-idx1-ubyte\(\.gz\)/,
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
