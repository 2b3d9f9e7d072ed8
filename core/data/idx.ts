/**
 * Reader for the idx format of MNIST and Fashion-MNIST
 * (http://yann.lecun.com/exdb/mnist/): a 4-byte magic `00 00 08 nd`
 * (unsigned bytes, `nd` dimensions), `nd` big-endian uint32 sizes, then the
 * data. Images are idx3 (magic 2051: count, rows, cols), labels idx1 (magic
 * 2049: count). Files may be gzipped; that is detected from the content, not
 * the name. Anything short, long or inconsistent is an error naming the file,
 * what was expected and what was found: never a silently partial dataset.
 *
 * Bounded work: the header is read (and, in a .gz, inflated) first and its
 * declared size checked against what the dataset can hold (IdxExpect) and
 * against IDX_MAX_BYTES before the data is read; a .gz is inflated as a
 * stream that stops as soon as it produces more than the header declared, so
 * neither a header claiming billions of images nor a lying header followed by
 * gigabytes of zeros (a gzip bomb) can make the reader allocate them.
 */
import { createReadStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { DatasetError, fmt } from "./errors.js";
import type { ImageShape, Split } from "./types.js";

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

/**
 * Most data bytes (count x rows x cols, or count) one idx file may declare,
 * whatever the dataset: 1 GiB, about 20 times MNIST's training images.
 */
export const IDX_MAX_BYTES = 1 << 30;

/**
 * Inflated bytes tolerated past the size the header declares before a .gz is
 * abandoned (a little trailing data is reported as such, with the sizes).
 */
export const IDX_GZIP_SLACK_BYTES = 64 * 1024;

/** What a dataset's idx file may declare, checked before its data is read. */
export interface IdxExpect {
  /** Names the dataset and split in errors, e.g. "fashion-mnist train". */
  readonly what: string;
  /** Most images (or labels) the split has. */
  readonly maxCount: number;
  /** Largest image height and width. */
  readonly maxRows: number;
  readonly maxCols: number;
}

export interface IdxImages {
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  /** count * rows * cols bytes, row-major. */
  readonly images: Uint8Array;
}

/** True when the bytes start with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Bounds on a file's content, from its first bytes: `limit` receives the
 * first `headerBytes` bytes (fewer only when the content is shorter) and
 * returns the content's expected size, or throws to refuse the file.
 */
export interface ContentLimit {
  readonly headerBytes: number;
  limit(head: Uint8Array): number;
  /** True when the limit is the exact size (a header's): the output is allocated once, at that size. */
  readonly exact: boolean;
}

const NO_HEADER: ContentLimit = { headerBytes: 0, limit: () => IDX_MAX_BYTES, exact: false };

/**
 * Reads a file, gunzipping it when its content is gzip. The content's size
 * is bounded by `bounds` (default: IDX_MAX_BYTES), checked from the header
 * before the rest is read or inflated; a .gz that inflates to more than
 * IDX_GZIP_SLACK_BYTES past the expected size is abandoned with an error.
 */
export async function readMaybeGzip(
  file: string,
  bounds: ContentLimit = NO_HEADER,
): Promise<Uint8Array> {
  let head: Buffer;
  let size: number;
  try {
    const fh = await open(file, "r");
    try {
      size = (await fh.stat()).size;
      head = Buffer.alloc(Math.max(2, Math.min(bounds.headerBytes, size)));
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new DatasetError(`cannot read file (${(err as Error).message})`, file, { cause: err });
  }
  if (isGzip(head)) return inflateBounded(file, bounds);
  const expected = bounds.limit(head.subarray(0, bounds.headerBytes));
  if (size > expected + IDX_GZIP_SLACK_BYTES) {
    throw new DatasetError(
      `file is ${fmt(size)} bytes, more than the ${fmt(expected)} its header declares; delete the file and fetch it again`,
      file,
    );
  }
  try {
    return await readFile(file);
  } catch (err) {
    throw new DatasetError(`cannot read file (${(err as Error).message})`, file, { cause: err });
  }
}

/** Streams a .gz through gunzip, checking the header first and stopping past the expected size. */
async function inflateBounded(file: string, bounds: ContentLimit): Promise<Uint8Array> {
  const gunzip = pipeline(
    createReadStream(file, { highWaterMark: 64 * 1024 }),
    createGunzip(),
    () => {},
  );
  const early: Buffer[] = []; // output before the header is complete
  let known = false;
  let expected = 0;
  let out: Uint8Array | null = null; // `expected` bytes, when the limit is exact
  let total = 0;
  const extra: Buffer[] = []; // output that does not fit in `out` (all of it without `out`)
  const put = (chunk: Buffer) => {
    const fits = out ? Math.max(0, Math.min(chunk.length, expected - total)) : 0;
    if (out && fits > 0) out.set(chunk.subarray(0, fits), total);
    if (fits < chunk.length) extra.push(chunk.subarray(fits));
    total += chunk.length;
  };
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (!known) {
        early.push(chunk);
        if (early.reduce((n, c) => n + c.length, 0) < bounds.headerBytes) continue;
        const head = Buffer.concat(early);
        expected = bounds.limit(head);
        known = true;
        if (bounds.exact) out = new Uint8Array(expected);
        early.length = 0;
        put(head);
      } else {
        put(chunk);
      }
      if (total > expected + IDX_GZIP_SLACK_BYTES) {
        const what = bounds.exact
          ? `the ${fmt(expected)} bytes its header declares`
          : `${fmt(expected)} bytes, the most this reader accepts`;
        throw new DatasetError(
          `gzip data inflates to more than ${what} (stopped after ${fmt(total)}); the file is damaged or not what it claims to be: delete it and fetch it again`,
          file,
        );
      }
    }
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(
      `gzip data is truncated or corrupt (${(err as Error).message}); delete the file and fetch it again`,
      file,
      { cause: err },
    );
  }
  if (!known) {
    // Shorter than a header: the parser reports what is missing.
    const all = Buffer.concat(early);
    bounds.limit(all);
    return all;
  }
  if (!out) return Buffer.concat(extra);
  if (total <= expected) return out.subarray(0, total);
  return Buffer.concat([out, ...extra]);
}

function describeMagic(magic: number): string {
  if (magic === IDX_IMAGES_MAGIC) return "2051 (idx3 images)";
  if (magic === IDX_LABELS_MAGIC) return "2049 (idx1 labels)";
  if (magic >>> 16 === 0x1f8b)
    return `0x${hex(magic)} (gzip data inside gzip? re-extract the file)`;
  return `${magic} (0x${hex(magic)})`;
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/** Reads and checks the header, returns the dimensions and the byte offset of the data. */
function parseHeader(
  bytes: Uint8Array,
  file: string,
  expectedMagic: number,
  what: string,
): { dims: number[]; offset: number } {
  if (bytes.length < 4) {
    throw new DatasetError(
      `truncated: expected an idx ${what} file of at least 4 bytes, found ${fmt(bytes.length)}`,
      file,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== expectedMagic) {
    const swapped =
      (expectedMagic === IDX_IMAGES_MAGIC && magic === IDX_LABELS_MAGIC) ||
      (expectedMagic === IDX_LABELS_MAGIC && magic === IDX_IMAGES_MAGIC)
        ? "; are the image and label files swapped?"
        : "";
    throw new DatasetError(
      `not an idx ${what} file: expected magic ${describeMagic(expectedMagic)}, found ${describeMagic(magic)}${swapped}`,
      file,
    );
  }
  const nd = magic & 0xff;
  const offset = 4 + 4 * nd;
  if (bytes.length < offset) {
    throw new DatasetError(
      `truncated: expected a ${fmt(offset)}-byte header, found ${fmt(bytes.length)} bytes`,
      file,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(view.getUint32(4 + 4 * i, false));
  return { dims, offset };
}

function checkLength(bytes: Uint8Array, file: string, expected: number, header: string): void {
  if (bytes.length === expected) return;
  const problem = bytes.length < expected ? "truncated" : "trailing data";
  throw new DatasetError(
    `${problem}: expected ${fmt(expected)} bytes (${header}), found ${fmt(bytes.length)}`,
    file,
  );
}

/** Parses idx3 unsigned-byte images. `file` is only used in error messages. */
export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  const { dims, offset } = parseHeader(bytes, file, IDX_IMAGES_MAGIC, "images");
  const [count, rows, cols] = dims as [number, number, number];
  const size = count * rows * cols;
  checkLength(
    bytes,
    file,
    offset + size,
    `header says ${fmt(count)} images of ${rows}x${cols} plus ${offset} header bytes`,
  );
  // Copy, so the result does not keep the (possibly larger) file buffer alive.
  return { count, rows, cols, images: new Uint8Array(bytes.subarray(offset, offset + size)) };
}

/**
 * Parses idx1 unsigned-byte labels, checking each is below `numClasses`.
 * `file` is only used in error messages.
 */
export function parseIdxLabels(bytes: Uint8Array, file: string, numClasses: number): Uint8Array {
  const { dims, offset } = parseHeader(bytes, file, IDX_LABELS_MAGIC, "labels");
  const count = dims[0] as number;
  checkLength(
    bytes,
    file,
    offset + count,
    `header says ${fmt(count)} labels plus ${offset} header bytes`,
  );
  const labels = new Uint8Array(bytes.subarray(offset, offset + count));
  checkLabels(labels, numClasses, file);
  return labels;
}

/** Throws if any label is >= numClasses, naming the first offender. */
export function checkLabels(labels: Uint8Array, numClasses: number, file: string): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i] as number;
    if (v >= numClasses) {
      let bad = 0;
      for (let j = i; j < labels.length; j++) if ((labels[j] as number) >= numClasses) bad++;
      throw new DatasetError(
        `label ${v} at index ${fmt(i)} is out of range: expected 0..${numClasses - 1} (${numClasses} classes); ${fmt(bad)} label(s) are out of range`,
        file,
      );
    }
  }
}

/**
 * The bounds of an idx file: its header (magic and dims) must be the
 * expected kind, declare no more than `expect` allows and at most
 * IDX_MAX_BYTES of data; the content is then exactly the declared size.
 */
function idxBounds(
  file: string,
  expectedMagic: number,
  what: "images" | "labels",
  expect: IdxExpect | undefined,
): ContentLimit {
  return {
    headerBytes: expectedMagic === IDX_IMAGES_MAGIC ? 16 : 8,
    exact: true,
    limit(head) {
      const { dims, offset } = parseHeader(head, file, expectedMagic, what);
      const [count, rows = 1, cols = 1] = dims as [number, number?, number?];
      const bytes = count * rows * cols;
      const declared =
        what === "images"
          ? `${fmt(count)} images of ${rows}x${cols} (${fmt(bytes)} bytes)`
          : `${fmt(count)} labels`;
      if (
        expect &&
        (count > expect.maxCount ||
          (what === "images" && (rows > expect.maxRows || cols > expect.maxCols)))
      ) {
        const allowed =
          what === "images"
            ? `${fmt(expect.maxCount)} images of at most ${expect.maxRows}x${expect.maxCols}`
            : `${fmt(expect.maxCount)} labels`;
        throw new DatasetError(
          `header declares ${declared}, more than ${expect.what} has (at most ${allowed}); the file is damaged or not a ${expect.what} file: delete it and fetch it again`,
          file,
        );
      }
      if (bytes > IDX_MAX_BYTES) {
        throw new DatasetError(
          `header declares ${declared}, more than the limit of ${fmt(IDX_MAX_BYTES)} bytes for one idx file (IDX_MAX_BYTES); the file is damaged or not an idx file of a dataset this app can hold in memory`,
          file,
        );
      }
      return offset + bytes;
    },
  };
}

/** Reads idx3 images; `expect` bounds what the header may declare (checked before the data is read). */
export async function readIdxImages(file: string, expect?: IdxExpect): Promise<IdxImages> {
  return parseIdxImages(
    await readMaybeGzip(file, idxBounds(file, IDX_IMAGES_MAGIC, "images", expect)),
    file,
  );
}

/** Reads idx1 labels; `expect` bounds what the header may declare (checked before the data is read). */
export async function readIdxLabels(
  file: string,
  numClasses: number,
  expect?: IdxExpect,
): Promise<Uint8Array> {
  return parseIdxLabels(
    await readMaybeGzip(file, idxBounds(file, IDX_LABELS_MAGIC, "labels", expect)),
    file,
    numClasses,
  );
}

/** Reads an images/labels pair into a Split, checking that their counts agree. */
export async function readIdxSplit(
  imagesFile: string,
  labelsFile: string,
  numClasses: number,
  expect?: IdxExpect,
): Promise<{ split: Split; shape: ImageShape }> {
  const [img, labels] = await Promise.all([
    readIdxImages(imagesFile, expect),
    readIdxLabels(labelsFile, numClasses, expect),
  ]);
  if (labels.length !== img.count) {
    throw new DatasetError(
      `label count differs from image count: ${labelsFile} has ${fmt(labels.length)} labels, ${imagesFile} has ${fmt(img.count)} images`,
    );
  }
  return {
    split: { images: img.images, labels, count: img.count },
    shape: [img.rows, img.cols, 1],
  };
}
