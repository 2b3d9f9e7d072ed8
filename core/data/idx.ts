/**
 * Reader for the idx format of MNIST and Fashion-MNIST
 * (http://yann.lecun.com/exdb/mnist/): a 4-byte magic `00 00 08 nd`
 * (unsigned bytes, `nd` dimensions), `nd` big-endian uint32 sizes, then the
 * data. Images are idx3 (magic 2051: count, rows, cols), labels idx1 (magic
 * 2049: count). Files may be gzipped; that is detected from the content, not
 * the name. Anything short, long or inconsistent is an error naming the file,
 * what was expected and what was found: never a silently partial dataset.
 */
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { DatasetError, fmt } from "./errors.js";
import type { ImageShape, Split } from "./types.js";

const gunzipAsync = promisify(gunzip);

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

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

/** Reads a file, gunzipping it when its content is gzip. */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    throw new DatasetError(`cannot read file (${(err as Error).message})`, file, { cause: err });
  }
  if (!isGzip(raw)) return raw;
  try {
    return await gunzipAsync(raw);
  } catch (err) {
    throw new DatasetError(
      `gzip data is truncated or corrupt (${(err as Error).message}); delete the file and fetch it again`,
      file,
      { cause: err },
    );
  }
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

export async function readIdxImages(file: string): Promise<IdxImages> {
  return parseIdxImages(await readMaybeGzip(file), file);
}

export async function readIdxLabels(file: string, numClasses: number): Promise<Uint8Array> {
  return parseIdxLabels(await readMaybeGzip(file), file, numClasses);
}

/** Reads an images/labels pair into a Split, checking that their counts agree. */
export async function readIdxSplit(
  imagesFile: string,
  labelsFile: string,
  numClasses: number,
): Promise<{ split: Split; shape: ImageShape }> {
  const [img, labels] = await Promise.all([
    readIdxImages(imagesFile),
    readIdxLabels(labelsFile, numClasses),
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
