/**
 * A small streaming tar reader (ustar, GNU long names, pax `path`/`size`),
 * fed chunk by chunk from a gunzip stream, so an archive is never held in
 * memory: each entry's bytes go straight to a sink chosen by the caller, or
 * are skipped. Also a minimal ustar writer (`packTar`) for tests and tools.
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { DatasetError, fmt } from "./errors.js";

const BLOCK = 512;

export interface TarEntry {
  /** Path inside the archive, e.g. "cifar-10-batches-bin/data_batch_1.bin". */
  readonly name: string;
  readonly size: number;
  readonly type: "file" | "directory" | "other";
}

/** Receives one entry's bytes, in order; `end` is called after the last byte. */
export interface TarEntrySink {
  write(chunk: Uint8Array): void;
  end(): void;
}

/** Return a sink to receive the entry's data, or null to skip it. */
export type TarEntryHandler = (entry: TarEntry) => TarEntrySink | null | undefined;

function readString(block: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && block[end] !== 0) end++;
  return Buffer.from(block.buffer, block.byteOffset + start, end - start).toString("utf8");
}

function readNumber(block: Uint8Array, start: number, length: number): number {
  if (((block[start] as number) & 0x80) !== 0) {
    // GNU base-256: big-endian, high bit of the first byte is the marker.
    let n = (block[start] as number) & 0x7f;
    for (let i = start + 1; i < start + length; i++) n = n * 256 + (block[i] as number);
    return n;
  }
  const text = readString(block, start, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return Number.parseInt(text, 8);
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Collects a meta entry's data (pax header, GNU long name). */
class Collector implements TarEntrySink {
  private parts: Uint8Array[] = [];
  constructor(private readonly done: (data: Buffer) => void) {}
  write(chunk: Uint8Array): void {
    this.parts.push(Buffer.from(chunk));
  }
  end(): void {
    this.done(Buffer.concat(this.parts));
  }
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number.parseInt(data.toString("utf8", pos, space), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.toString("utf8", space + 1, pos + len - 1); // drop "\n"
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

/** Push-style tar parser. Call `push` with consecutive chunks, then `finish`. */
export class TarParser {
  private readonly header = new Uint8Array(BLOCK);
  private headerFill = 0;
  private remaining = 0; // data bytes left in the current entry
  private padding = 0; // bytes to skip after the data
  private sink: TarEntrySink | null = null;
  private ended = false;
  private inEntry = false;
  private longName: string | null = null;
  private pax: Map<string, string> | null = null;
  private offset = 0; // bytes consumed, for error messages

  constructor(
    private readonly onEntry: TarEntryHandler,
    private readonly file: string,
  ) {}

  /** True after the end-of-archive marker: anything after it is ignored. */
  get done(): boolean {
    return this.ended;
  }

  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.ended) return; // ignore anything after the end-of-archive marker
      if (this.inEntry) {
        if (this.remaining > 0) {
          const n = Math.min(this.remaining, chunk.length - pos);
          this.sink?.write(chunk.subarray(pos, pos + n));
          this.remaining -= n;
          pos += n;
          this.offset += n;
          if (this.remaining === 0) this.sink?.end();
          continue;
        }
        if (this.padding > 0) {
          const n = Math.min(this.padding, chunk.length - pos);
          this.padding -= n;
          pos += n;
          this.offset += n;
          continue;
        }
        this.inEntry = false;
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, chunk.length - pos);
      this.header.set(chunk.subarray(pos, pos + n), this.headerFill);
      this.headerFill += n;
      pos += n;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.startEntry();
        this.offset += BLOCK;
      }
    }
    if (this.inEntry && this.remaining === 0 && this.padding === 0) this.inEntry = false;
  }

  /** Throws when the stream stopped inside a header or an entry. */
  finish(): void {
    if (this.ended) return;
    if (this.headerFill !== 0 || (this.inEntry && this.remaining > 0)) {
      throw new DatasetError(
        `truncated tar archive: stream ended ${this.remaining > 0 ? `with ${fmt(this.remaining)} bytes of an entry missing` : "inside a header"} (at byte ${fmt(this.offset)})`,
        this.file,
      );
    }
    // A stream ending on an entry boundary without the two zero blocks is accepted.
  }

  private startEntry(): void {
    const h = this.header;
    if (isZeroBlock(h)) {
      this.ended = true;
      return;
    }
    const stored = readNumber(h, 148, 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    if (stored !== sum) {
      throw new DatasetError(
        `corrupt tar header at byte ${fmt(this.offset)}: checksum is ${stored}, computed ${sum} (not a tar archive, or damaged)`,
        this.file,
      );
    }
    let size = readNumber(h, 124, 12);
    const flag = String.fromCharCode(h[156] as number);
    let name = readString(h, 0, 100);
    if (readString(h, 257, 5) === "ustar") {
      const prefix = readString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (this.pax) {
      name = this.pax.get("path") ?? name;
      const paxSize = this.pax.get("size");
      if (paxSize !== undefined) size = Number(paxSize);
      this.pax = null;
    }
    if (this.longName !== null) {
      name = this.longName;
      this.longName = null;
    }
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new DatasetError(`corrupt tar header for "${name}": bad size field`, this.file);
    }
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.inEntry = true;
    if (flag === "L") {
      this.sink = new Collector((d) => {
        this.longName = d.toString("utf8").replace(/\0+$/, "");
      });
    } else if (flag === "x") {
      this.sink = new Collector((d) => {
        this.pax = parsePax(d);
      });
    } else if (flag === "g") {
      this.sink = null;
    } else {
      const type =
        flag === "0" || flag === "\0" || flag === "7"
          ? "file"
          : flag === "5"
            ? "directory"
            : "other";
      this.sink = this.onEntry({ name, size, type }) ?? null;
    }
    if (size === 0) this.sink?.end();
  }
}

/** True when the file starts with the gzip magic number. */
async function fileIsGzip(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

export interface ReadTarOptions {
  /**
   * Most bytes of tar data (after gunzip) to read: past it the read stops
   * with an error, so a small .tar.gz cannot make the reader inflate
   * gigabytes (a gzip bomb).
   */
  maxBytes?: number;
  /** What maxBytes is, for the error, e.g. "the most a cifar10 archive may hold". */
  maxBytesReason?: string;
}

/**
 * Streams a .tar or .tar.gz file through `onEntry`. Errors thrown by sinks
 * propagate (and stop the read). Reading stops at the end-of-archive marker.
 */
export async function readTar(
  file: string,
  onEntry: TarEntryHandler,
  options: ReadTarOptions = {},
): Promise<void> {
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  let gz: boolean;
  try {
    gz = await fileIsGzip(file);
  } catch (err) {
    throw new DatasetError(`cannot read archive (${(err as Error).message})`, file, { cause: err });
  }
  const parser = new TarParser(onEntry, file);
  const src = createReadStream(file, { highWaterMark: 1 << 20 });
  const input = gz ? pipeline(src, createGunzip({ chunkSize: 1 << 20 }), () => {}) : src;
  let total = 0;
  try {
    for await (const chunk of input) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        throw new DatasetError(
          `archive ${gz ? "inflates to" : "holds"} more than ${fmt(maxBytes)} bytes of tar data${options.maxBytesReason ? `, ${options.maxBytesReason}` : ""}; reading stopped there: the file is damaged or not the archive it claims to be, delete it and fetch it again`,
          file,
        );
      }
      parser.push(chunk as Buffer);
      if (parser.done) break;
    }
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(
      `cannot read archive: ${gz ? "gzip data is truncated or corrupt" : "read failed"} (${(err as Error).message})`,
      file,
      { cause: err },
    );
  }
  parser.finish();
}

/** A ustar archive of regular files (names up to 100 bytes), with the end-of-archive blocks. */
export function packTar(entries: readonly { name: string; data: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, data } of entries) {
    const h = Buffer.alloc(BLOCK);
    if (Buffer.byteLength(name) > 100)
      throw new Error(`packTar: name longer than 100 bytes: ${name}`);
    h.write(name, 0, "utf8");
    h.write("0000644\0", 100, "latin1");
    h.write("0000000\0", 108, "latin1");
    h.write("0000000\0", 116, "latin1");
    h.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124, "latin1");
    h.write("00000000000\0", 136, "latin1");
    h.write("        ", 148, "latin1");
    h.write("0", 156, "latin1");
    h.write("ustar\0", 257, "latin1");
    h.write("00", 263, "latin1");
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += h[i] as number;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    parts.push(h, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
