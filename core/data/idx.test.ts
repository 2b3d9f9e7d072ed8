import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { DatasetError } from "./errors.js";
import {
  parseIdxImages,
  parseIdxLabels,
  readIdxImages,
  readIdxLabels,
  readIdxSplit,
} from "./idx.js";

function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => {
    head.writeUInt32BE(d, 4 + 4 * i);
  });
  return Buffer.concat([head, data]);
}

const images = Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => i * 7);
const imgFile = idx(2051, [3, 2, 4], images);
const labFile = idx(2049, [3], Uint8Array.from([2, 0, 1]));

const dir = mkdtempSync(join(tmpdir(), "sgd-idx-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("parseIdxImages / parseIdxLabels", () => {
  it("reads dimensions and data", () => {
    const r = parseIdxImages(imgFile, "x");
    expect([r.count, r.rows, r.cols]).toEqual([3, 2, 4]);
    expect([...r.images]).toEqual([...images]);
    expect([...parseIdxLabels(labFile, "y", 3)]).toEqual([2, 0, 1]);
    // A standalone plain Uint8Array, not a Buffer view into the file bytes.
    expect(r.images.constructor).toBe(Uint8Array);
    expect(r.images.byteOffset).toBe(0);
    expect(r.images.buffer.byteLength).toBe(r.images.length);
  });

  it("reports truncation with expected and found sizes", () => {
    expect(() => parseIdxImages(imgFile.subarray(0, 30), "imgs")).toThrow(
      "imgs: truncated: expected 40 bytes (header says 3 images of 2x4 plus 16 header bytes), found 30",
    );
    expect(() => parseIdxImages(imgFile.subarray(0, 10), "imgs")).toThrow(
      /truncated: expected a 16-byte header, found 10 bytes/,
    );
    expect(() => parseIdxLabels(labFile.subarray(0, 2), "labs", 3)).toThrow(/truncated/);
  });

  it("rejects trailing data", () => {
    expect(() => parseIdxImages(Buffer.concat([imgFile, Buffer.alloc(5)]), "imgs")).toThrow(
      /trailing data: expected 40 bytes .* found 45/,
    );
  });

  it("rejects a wrong magic, spotting swapped files", () => {
    expect(() => parseIdxImages(labFile, "f")).toThrow(
      /expected magic 2051 \(idx3 images\), found 2049 \(idx1 labels\); are the image and label files swapped\?/,
    );
    expect(() => parseIdxLabels(Buffer.from("hello world!"), "f", 10)).toThrow(
      /expected magic 2049/,
    );
  });

  it("rejects out-of-range labels, naming value and index", () => {
    const bad = idx(2049, [4], Uint8Array.from([1, 9, 10, 12]));
    expect(() => parseIdxLabels(bad, "labels.idx", 10)).toThrow(
      "labels.idx: label 10 at index 2 is out of range: expected 0..9 (10 classes); 2 label(s) are out of range",
    );
  });
});

describe("reading files", () => {
  it("reads gzipped and plain files the same way", async () => {
    writeFileSync(join(dir, "a-idx3-ubyte"), imgFile);
    writeFileSync(join(dir, "a-idx3-ubyte.gz"), gzipSync(imgFile));
    const plain = await readIdxImages(join(dir, "a-idx3-ubyte"));
    const gz = await readIdxImages(join(dir, "a-idx3-ubyte.gz"));
    expect(gz.images).toEqual(plain.images);
    expect(gz.count).toBe(3);
  });

  it("reports a truncated gzip file as such, naming it", async () => {
    const file = join(dir, "cut.gz");
    const gz = gzipSync(Buffer.concat([imgFile, Buffer.alloc(4000, 3)]));
    writeFileSync(file, gz.subarray(0, gz.length - 10));
    await expect(readIdxImages(file)).rejects.toThrow(`${file}: gzip data is truncated or corrupt`);
  });

  it("reports a missing file", async () => {
    await expect(readIdxLabels(join(dir, "nope"), 10)).rejects.toThrow(/nope: cannot read file/);
  });

  it("checks that label and image counts agree", async () => {
    writeFileSync(join(dir, "i"), imgFile);
    writeFileSync(join(dir, "l"), idx(2049, [2], Uint8Array.from([0, 1])));
    const err = await readIdxSplit(join(dir, "i"), join(dir, "l"), 10).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toMatch(
      /label count differs from image count: .*l has 2 labels, .*i has 3 images/,
    );
  });
});
