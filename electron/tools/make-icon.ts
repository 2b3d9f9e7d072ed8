/**
 * Draws the app icon (assets/icon.png, 512x512 RGBA) with nothing but Node's
 * zlib: a rounded navy square, a decaying learning-rate curve (orange) and a
 * growing batch-size staircase (teal), the two ways a schedule shrinks the
 * smoothing delta. Run: npx tsx electron/tools/make-icon.ts [out.png]
 * electron-builder makes the .ico and .icns from this PNG.
 */
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const SIZE = 512;

type RGB = [number, number, number];
type Point = [number, number];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function segmentDistance(p: Point, a: Point, b: Point): number {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

function polylineDistance(p: Point, points: readonly Point[]): number {
  let d = Number.POSITIVE_INFINITY;
  for (let i = 1; i < points.length; i++) {
    d = Math.min(d, segmentDistance(p, points[i - 1] as Point, points[i] as Point));
  }
  return d;
}

/** Signed distance to a rounded square centred in the icon (negative inside). */
function roundedSquare(p: Point, half: number, radius: number): number {
  const qx = Math.abs(p[0] - SIZE / 2) - (half - radius);
  const qy = Math.abs(p[1] - SIZE / 2) - (half - radius);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
}

const mix = (a: RGB, b: RGB, t: number): RGB => [
  a[0] + (b[0] - a[0]) * t,
  a[1] + (b[1] - a[1]) * t,
  a[2] + (b[2] - a[2]) * t,
];
const coverage = (distance: number, halfWidth: number) =>
  Math.max(0, Math.min(1, halfWidth + 0.5 - distance));

export function drawIcon(): Uint8Array {
  const rgba = new Uint8Array(SIZE * SIZE * 4);
  const left = 104;
  const right = 408;
  const top = 112;
  const bottom = 400;
  // Learning rate: cosine decay from top-left to bottom-right.
  const lr: Point[] = Array.from({ length: 97 }, (_, i) => {
    const t = i / 96;
    return [
      left + t * (right - left),
      top + (bottom - top) * (1 - (1 + Math.cos(Math.PI * t)) / 2),
    ];
  });
  // Batch size: a staircase growing left to right.
  const steps = 4;
  const batch: Point[] = [];
  for (let s = 0; s < steps; s++) {
    const y = bottom - 8 - (s * (bottom - top - 40)) / (steps - 1);
    const x0 = left + (s * (right - left)) / steps;
    const x1 = left + ((s + 1) * (right - left)) / steps;
    if (s > 0) batch.push([x0, batch.at(-1)?.[1] ?? y]);
    batch.push([x0, y], [x1, y]);
  }
  const navyTop: RGB = [30, 58, 138];
  const navyBottom: RGB = [15, 23, 42];
  const orange: RGB = [249, 115, 22];
  const teal: RGB = [45, 212, 191];
  const white: RGB = [241, 245, 249];
  const ball: Point = lr[40] as Point;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const p: Point = [x + 0.5, y + 0.5];
      const shape = coverage(roundedSquare(p, 232, 96), 0);
      if (shape <= 0) continue;
      let color = mix(navyTop, navyBottom, y / SIZE);
      color = mix(color, teal, coverage(polylineDistance(p, batch), 9) * 0.9);
      color = mix(color, orange, coverage(polylineDistance(p, lr), 13));
      color = mix(color, white, coverage(Math.hypot(p[0] - ball[0], p[1] - ball[1]), 22));
      const i = (y * SIZE + x) * 4;
      rgba[i] = Math.round(color[0]);
      rgba[i + 1] = Math.round(color[1]);
      rgba[i + 2] = Math.round(color[2]);
      rgba[i + 3] = Math.round(255 * shape);
    }
  }
  return rgba;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? new URL("../../assets/icon.png", import.meta.url).pathname;
  writeFileSync(out, encodePng(SIZE, SIZE, drawIcon()));
  console.log(`wrote ${out}`);
}
