/**
 * SGD Studio's own single-file dataset format (used for the embedded default
 * dataset, extension `.sgdds.gz`). The whole file is gzip; inside:
 *
 *   8 bytes   ASCII "SGDDATA1"
 *   4 bytes   big-endian uint32 n: length of the JSON header
 *   n bytes   UTF-8 JSON header (DatasetFileHeader)
 *   payload   train images | train labels | test images | test labels
 *             (uint8, images HWC, exactly the sizes the header implies)
 *
 * The header carries the SHA-256 of the payload, checked at every load.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip, gzipSync } from "node:zlib";
import { DatasetError, fmt } from "./errors.js";
import { checkLabels, isGzip } from "./idx.js";
import { computeChannelStats } from "./stats.js";
import type { Dataset, DatasetSource, ImageShape, Split } from "./types.js";
import { imageSize } from "./types.js";

const gunzipAsync = promisify(gunzip);

export const DATASET_FILE_MAGIC = "SGDDATA1";
/** The most an uncompressed dataset file may hold (CIFAR-10 as one file is ~185 MB). */
export const DATASET_FILE_MAX_BYTES = 512 * 1024 * 1024;

export interface DatasetFileHeader {
  format: "sgd-studio-dataset";
  version: 1;
  name: string;
  classes: string[];
  shape: [number, number, number];
  trainCount: number;
  testCount: number;
  /** Provenance and licence, one line. */
  description: string;
  /** Hex SHA-256 of the payload. */
  payloadSha256: string;
}

export interface DatasetFileContent {
  readonly name: string;
  readonly classes: readonly string[];
  readonly shape: ImageShape;
  readonly train: Split;
  readonly test: Split;
  readonly description: string;
}

/** SHA-256 (hex) of the payload of `content`, as stored in the header. */
export function payloadSha256(content: Pick<DatasetFileContent, "train" | "test">): string {
  const h = createHash("sha256");
  h.update(content.train.images);
  h.update(content.train.labels);
  h.update(content.test.images);
  h.update(content.test.labels);
  return h.digest("hex");
}

/** The uncompressed file bytes (magic, header, payload). Deterministic. */
export function serializeDatasetFile(content: DatasetFileContent): Buffer {
  const header: DatasetFileHeader = {
    format: "sgd-studio-dataset",
    version: 1,
    name: content.name,
    classes: [...content.classes],
    shape: [content.shape[0], content.shape[1], content.shape[2]],
    trainCount: content.train.count,
    testCount: content.test.count,
    description: content.description,
    payloadSha256: payloadSha256(content),
  };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length, 0);
  return Buffer.concat([
    Buffer.from(DATASET_FILE_MAGIC, "latin1"),
    len,
    json,
    content.train.images,
    content.train.labels,
    content.test.images,
    content.test.labels,
  ]);
}

/** The gzipped file (level 9), ready to write. */
export function encodeDatasetFile(content: DatasetFileContent): Buffer {
  return gzipSync(serializeDatasetFile(content), { level: 9 });
}

function fail(file: string, message: string): never {
  throw new DatasetError(message, file);
}

function checkHeader(h: unknown, file: string): DatasetFileHeader {
  const o = h as Partial<DatasetFileHeader> | null;
  const bad = (what: string): never => fail(file, `invalid dataset header: ${what}`);
  if (o === null || typeof o !== "object") bad("not a JSON object");
  const r = o as Partial<DatasetFileHeader>;
  if (r.format !== "sgd-studio-dataset") bad(`format is ${JSON.stringify(r.format)}`);
  if (r.version !== 1) bad(`version ${JSON.stringify(r.version)} is not supported (expected 1)`);
  if (typeof r.name !== "string") bad("name is missing");
  if (!Array.isArray(r.classes) || r.classes.length === 0 || r.classes.length > 256) {
    bad("classes must be 1..256 names");
  }
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  if (
    !Array.isArray(r.shape) ||
    r.shape.length !== 3 ||
    !r.shape.every((v) => posInt(v) && v > 0)
  ) {
    bad(`shape must be [h, w, c] of positive integers, found ${JSON.stringify(r.shape)}`);
  }
  if (!posInt(r.trainCount) || !posInt(r.testCount)) bad("trainCount/testCount must be integers");
  if (typeof r.payloadSha256 !== "string" || !/^[0-9a-f]{64}$/.test(r.payloadSha256)) {
    bad("payloadSha256 must be 64 hex digits");
  }
  return r as DatasetFileHeader;
}

/** Decodes file bytes (gzipped or not). `file` is used in error messages and as the source path. */
export async function decodeDatasetFile(
  bytes: Uint8Array,
  file: string,
  source?: Omit<DatasetSource, "description">,
): Promise<Dataset> {
  let raw: Uint8Array = bytes;
  if (isGzip(bytes)) {
    try {
      // Capped: a gzip bomb must not inflate past what any dataset file of ours holds.
      raw = await gunzipAsync(bytes, { maxOutputLength: DATASET_FILE_MAX_BYTES });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError)
        fail(
          file,
          `inflates to more than ${fmt(DATASET_FILE_MAX_BYTES)} bytes, the most a dataset file may hold: not a dataset file of SGD Studio's (or a gzip bomb); use the idx or CIFAR files instead`,
        );
      fail(file, `gzip data is truncated or corrupt (${e.message})`);
    }
  }
  const magic = Buffer.from(raw.buffer, raw.byteOffset, Math.min(8, raw.length)).toString("latin1");
  if (magic !== DATASET_FILE_MAGIC) {
    fail(
      file,
      `not an SGD Studio dataset file: expected magic "${DATASET_FILE_MAGIC}", found ${JSON.stringify(magic)}`,
    );
  }
  if (raw.length < 12)
    fail(file, `truncated: expected at least 12 bytes, found ${fmt(raw.length)}`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const headerLen = view.getUint32(8, false);
  if (raw.length < 12 + headerLen) {
    fail(file, `truncated: header needs ${fmt(12 + headerLen)} bytes, found ${fmt(raw.length)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset + 12, headerLen).toString("utf8"));
  } catch (err) {
    fail(file, `header is not valid JSON (${(err as Error).message})`);
  }
  const h = checkHeader(parsed, file);
  const shape: ImageShape = [h.shape[0], h.shape[1], h.shape[2]];
  const size = imageSize(shape);
  const start = 12 + headerLen;
  const expected = start + (h.trainCount + h.testCount) * (size + 1);
  if (raw.length !== expected) {
    fail(
      file,
      `${raw.length < expected ? "truncated" : "trailing data"}: expected ${fmt(expected)} bytes (header says ${fmt(h.trainCount)} train + ${fmt(h.testCount)} test images of ${shape.join("x")}), found ${fmt(raw.length)}`,
    );
  }
  let off = start;
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(raw.subarray(off, off + n)); // a plain copy, not a Buffer view
    off += n;
    return out;
  };
  const train: Split = {
    images: take(h.trainCount * size),
    labels: take(h.trainCount),
    count: h.trainCount,
  };
  const test: Split = {
    images: take(h.testCount * size),
    labels: take(h.testCount),
    count: h.testCount,
  };
  const sha = payloadSha256({ train, test });
  if (sha !== h.payloadSha256) {
    fail(file, `checksum mismatch: header says payload SHA-256 ${h.payloadSha256}, found ${sha}`);
  }
  checkLabels(train.labels, h.classes.length, `${file} (train labels)`);
  checkLabels(test.labels, h.classes.length, `${file} (test labels)`);
  return {
    name: h.name,
    train,
    test,
    classes: h.classes,
    shape,
    source: {
      kind: source?.kind ?? "dataset-file",
      path: source?.path ?? file,
      description: h.description,
    },
    stats: computeChannelStats(train.images, shape),
  };
}

export async function readDatasetFile(file: string): Promise<Dataset> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new DatasetError(`cannot read file (${(err as Error).message})`, file, { cause: err });
  }
  return decodeDatasetFile(bytes, file);
}
