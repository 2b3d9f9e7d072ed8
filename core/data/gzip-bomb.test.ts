// Gzip bombs and lying headers: idx files (.gz or not) are refused from their
// header when it declares more than the dataset (or IDX_MAX_BYTES) allows, a
// .gz stops inflating once past what its header declared, and a CIFAR
// .tar.gz stops at CIFAR_ARCHIVE_MAX_BYTES; memory stays small throughout.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { CIFAR_ARCHIVE_MAX_BYTES, loadCifarArchive } from "./cifar.js";
import { DATASET_FILE_MAX_BYTES, decodeDatasetFile } from "./dataset-file.js";
import { DatasetError } from "./errors.js";
import { loadFashionMnist } from "./fashion-mnist.js";
import { IDX_MAX_BYTES, readIdxImages, readIdxLabels } from "./idx.js";

const dir = mkdtempSync(join(tmpdir(), "sgd-bomb-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1 << 20;
/** One gzip member of 1 MiB of zeros (about 1 KB); members concatenate into one stream. */
const zerosMember = gzipSync(Buffer.alloc(MiB), { level: 9 });

function idxHeader(magic: number, dims: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => {
    head.writeUInt32BE(d, 4 + 4 * i);
  });
  return head;
}

/** A .gz whose content is `head` followed by `mib` MiB of zeros. */
function bomb(head: Buffer, mib: number): Buffer {
  return Buffer.concat([gzipSync(head), ...new Array<Buffer>(mib).fill(zerosMember)]);
}

/** Runs `f`, sampling the memory held in ArrayBuffers (Buffers) while it runs; the peak growth in bytes. */
async function peakGrowth<T>(
  f: () => Promise<T>,
): Promise<{ result: T | unknown; growth: number }> {
  const base = process.memoryUsage().arrayBuffers;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }, 1);
  try {
    const result = await f().catch((e: unknown) => e);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    return { result, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

describe("idx: a header declaring too much is refused before the data is inflated", () => {
  it("a .gz claiming 10^9 images of 28x28 (then 256 MiB of zeros) names the file, the declaration and the limit", async () => {
    const file = join(dir, "huge-idx3-ubyte.gz");
    writeFileSync(file, bomb(idxHeader(2051, [1e9, 28, 28]), 256));
    expect(statSync(file).size).toBeLessThan(400_000);
    const t0 = performance.now();
    const { result, growth } = await peakGrowth(() => readIdxImages(file));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(result).toBeInstanceOf(DatasetError);
    expect((result as Error).message).toBe(
      `${file}: header declares 1,000,000,000 images of 28x28 (784,000,000,000 bytes), more than the limit of 1,073,741,824 bytes for one idx file (IDX_MAX_BYTES); the file is damaged or not an idx file of a dataset this app can hold in memory`,
    );
    expect(IDX_MAX_BYTES).toBe(1_073_741_824);
    expect(growth).toBeLessThan(32 * MiB);
  });

  it("the same header in a plain (not gzipped) file is refused the same way", async () => {
    const file = join(dir, "huge-plain-idx3-ubyte");
    writeFileSync(file, Buffer.concat([idxHeader(2051, [1e9, 28, 28]), Buffer.alloc(1000)]));
    await expect(readIdxImages(file)).rejects.toThrow(
      `${file}: header declares 1,000,000,000 images of 28x28 (784,000,000,000 bytes), more than the limit`,
    );
  });

  it("in a Fashion-MNIST folder, the dataset's own shape is the limit", async () => {
    const d = join(dir, "fashion");
    mkdirSync(d);
    const img = (n: number) => Buffer.concat([idxHeader(2051, [n, 28, 28]), Buffer.alloc(n * 784)]);
    const lab = (n: number) => Buffer.concat([idxHeader(2049, [n]), Buffer.alloc(n)]);
    writeFileSync(join(d, "train-images-idx3-ubyte.gz"), bomb(idxHeader(2051, [1e9, 28, 28]), 64));
    writeFileSync(join(d, "train-labels-idx1-ubyte.gz"), gzipSync(lab(3)));
    writeFileSync(join(d, "t10k-images-idx3-ubyte.gz"), gzipSync(img(2)));
    writeFileSync(join(d, "t10k-labels-idx1-ubyte.gz"), gzipSync(lab(2)));
    const { result, growth } = await peakGrowth(() => loadFashionMnist(d));
    expect((result as Error).message).toBe(
      `${join(d, "train-images-idx3-ubyte.gz")}: header declares 1,000,000,000 images of 28x28 (784,000,000,000 bytes), more than fashion-mnist train has (at most 60,000 images of at most 28x28); the file is damaged or not a fashion-mnist train file: delete it and fetch it again`,
    );
    expect(growth).toBeLessThan(32 * MiB);
    // Larger images than the dataset's, and too many labels, are refused too.
    writeFileSync(join(d, "t10k-images-idx3-ubyte.gz"), gzipSync(idxHeader(2051, [2, 1000, 1000])));
    writeFileSync(join(d, "train-images-idx3-ubyte.gz"), gzipSync(img(3)));
    await expect(loadFashionMnist(d)).rejects.toThrow(
      "t10k-images-idx3-ubyte.gz: header declares 2 images of 1000x1000 (2,000,000 bytes), more than fashion-mnist test has (at most 10,000 images of at most 28x28)",
    );
    writeFileSync(join(d, "t10k-images-idx3-ubyte.gz"), gzipSync(img(2)));
    writeFileSync(join(d, "t10k-labels-idx1-ubyte.gz"), bomb(idxHeader(2049, [20_000]), 4));
    await expect(loadFashionMnist(d)).rejects.toThrow(
      "t10k-labels-idx1-ubyte.gz: header declares 20,000 labels, more than fashion-mnist test has (at most 10,000 labels)",
    );
    // Within the limits it loads.
    writeFileSync(join(d, "t10k-labels-idx1-ubyte.gz"), gzipSync(lab(2)));
    const ds = await loadFashionMnist(d);
    expect([ds.train.count, ds.test.count]).toEqual([3, 2]);
  });
});

describe("idx: a lying header cannot inflate to more than it declared", () => {
  it("1,000 images declared, 256 MiB of zeros inflated: stops just past the declared size", async () => {
    const file = join(dir, "liar-idx3-ubyte.gz");
    writeFileSync(file, bomb(idxHeader(2051, [1000, 28, 28]), 256));
    const { result, growth } = await peakGrowth(() => readIdxImages(file));
    expect(result).toBeInstanceOf(DatasetError);
    expect((result as Error).message).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: gzip data inflates to more than the 784,016 bytes its header declares \\(stopped after [\\d,]+\\); the file is damaged or not what it claims to be: delete it and fetch it again$`,
      ),
    );
    const stopped = Number(
      (result as Error).message.match(/stopped after ([\d,]+)/)?.[1]?.replace(/,/g, ""),
    );
    expect(stopped).toBeLessThan(784_016 + 64 * 1024 + 64 * 1024);
    expect(growth).toBeLessThan(32 * MiB);
  });

  it("a little trailing data is still reported with the sizes; labels are capped the same way", async () => {
    const file = join(dir, "trail-idx1-ubyte.gz");
    writeFileSync(file, gzipSync(Buffer.concat([idxHeader(2049, [3]), Buffer.from([1, 2, 0, 9])])));
    await expect(readIdxLabels(file, 10)).rejects.toThrow(
      `${file}: trailing data: expected 11 bytes (header says 3 labels plus 8 header bytes), found 12`,
    );
    const liar = join(dir, "liar-idx1-ubyte.gz");
    writeFileSync(liar, bomb(idxHeader(2049, [10]), 64));
    await expect(readIdxLabels(liar, 10)).rejects.toThrow(
      `${liar}: gzip data inflates to more than the 18 bytes its header declares`,
    );
  });
});

/** A ustar header for a regular file of `size` bytes (no data). */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, "utf8");
  h.write("0000644\0", 100, "latin1");
  h.write("0000000\0", 108, "latin1");
  h.write("0000000\0", 116, "latin1");
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "latin1");
  h.write("00000000000\0", 136, "latin1");
  h.write("        ", 148, "latin1");
  h.write("0", 156, "latin1");
  h.write("ustar\0", 257, "latin1");
  h.write("00", 263, "latin1");
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i] as number;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return h;
}

describe("CIFAR .tar.gz: the inflated archive is capped", () => {
  it("an entry declaring more than CIFAR_ARCHIVE_MAX_BYTES is refused before anything is allocated for it", async () => {
    const file = join(dir, "cifar-10-declared.tar.gz");
    const name = "cifar-10-batches-bin/data_batch_1.bin";
    writeFileSync(file, bomb(tarHeader(name, 3073 * 100_000), 8));
    const { result, growth } = await peakGrowth(() =>
      loadCifarArchive(file, "cifar10", { recordCounts: "any" }),
    );
    expect((result as Error).message).toBe(
      `${file}:${name}: tar header declares 307,300,000 bytes, more than the 268,435,456 bytes a cifar10 archive may hold (CIFAR_ARCHIVE_MAX_BYTES; the official one holds about 184,000,000): the archive is damaged or not cifar10; delete it and fetch it again`,
    );
    expect(CIFAR_ARCHIVE_MAX_BYTES).toBe(268_435_456);
    expect(growth).toBeLessThan(32 * MiB);
  });

  it("300 MiB of inflated data (an entry that is skipped) stops at the cap with the file, the size and the limit", async () => {
    const file = join(dir, "cifar-10-bomb.tar.gz");
    writeFileSync(file, bomb(tarHeader("cifar-10-batches-bin/padding.bin", 300 * MiB), 300));
    expect(statSync(file).size).toBeLessThan(400_000);
    // (Memory is not the point here: the tar reader streams; without the cap it would inflate all of it.)
    const result = await loadCifarArchive(file, "cifar10").catch((e: unknown) => e);
    expect((result as Error).message).toBe(
      `${file}: archive inflates to more than 268,435,456 bytes of tar data, the most a cifar10 archive may hold (CIFAR_ARCHIVE_MAX_BYTES; the official one holds about 184,000,000); reading stopped there: the file is damaged or not the archive it claims to be, delete it and fetch it again`,
    );
  });
});

describe("SGD Studio dataset files (.sgdds.gz): inflating is capped", () => {
  it("a bomb past DATASET_FILE_MAX_BYTES is refused with the file named, before it exhausts memory", async () => {
    const file = join(dir, "bomb.sgdds.gz");
    const mib = DATASET_FILE_MAX_BYTES / MiB + 16;
    const body = Buffer.concat([
      gzipSync(Buffer.from("SGDDATA1")),
      ...new Array<Buffer>(mib).fill(zerosMember),
    ]);
    writeFileSync(file, body);
    const { result } = await peakGrowth(() => decodeDatasetFile(body, file));
    expect(result).toBeInstanceOf(DatasetError);
    expect((result as Error).message).toContain(file);
    expect((result as Error).message).toMatch(/inflates to more than .* bytes/);
  });
});
