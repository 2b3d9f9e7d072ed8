import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CIFAR10_CLASSES,
  CIFAR100_COARSE_CLASSES,
  CIFAR100_FINE_CLASSES,
  loadCifar,
  loadCifarArchive,
  loadCifarFolder,
} from "./cifar.js";
import { packTar, TarParser } from "./tar.js";
import type { Dataset } from "./types.js";

/** Pixel value of image `i`, channel `c`, pixel `p` (= y * 32 + x) in the generated files. */
const pix = (i: number, c: number, p: number) => (i * 31 + c * 85 + p * 7) & 255;

function record(i: number, labels: number[]): Buffer {
  const r = Buffer.alloc(labels.length + 3072);
  labels.forEach((l, k) => {
    r[k] = l;
  });
  for (let c = 0; c < 3; c++)
    for (let p = 0; p < 1024; p++) r[labels.length + c * 1024 + p] = pix(i, c, p);
  return r;
}

/** CIFAR-10 files: batch b (1..5) holds images 3(b-1)..3(b-1)+2; test holds 100..103. Label = i % 10. */
function cifar10Files(): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let b = 1; b <= 5; b++) {
    const ids = [0, 1, 2].map((k) => 3 * (b - 1) + k);
    files.set(`data_batch_${b}.bin`, Buffer.concat(ids.map((i) => record(i, [i % 10]))));
  }
  files.set("test_batch.bin", Buffer.concat([100, 101, 102, 103].map((i) => record(i, [i % 10]))));
  return files;
}

/** Counts pixels of `ds` that differ from pix(ids[k], c, p) in HWC order. */
function mismatches(images: Uint8Array, ids: number[]): number {
  let bad = 0;
  ids.forEach((id, k) => {
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) if (images[k * 3072 + p * 3 + c] !== pix(id, c, p)) bad++;
    }
  });
  return bad;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);
const tmp = mkdtempSync(join(tmpdir(), "sgd-cifar-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function hasTar(): boolean {
  try {
    execFileSync("tar", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("CIFAR-10", () => {
  const root = join(tmp, "c10");
  const folder = join(root, "cifar-10-batches-bin");
  let fromFolder: Dataset;
  beforeAll(async () => {
    mkdirSync(folder, { recursive: true });
    for (const [name, data] of cifar10Files()) writeFileSync(join(folder, name), data);
    fromFolder = await loadCifarFolder(root, "cifar10", { recordCounts: "any" });
  });

  it("reads the batches in order and converts CHW to HWC", () => {
    const ds = fromFolder;
    expect(ds.name).toBe("cifar10");
    expect(ds.shape).toEqual([32, 32, 3]);
    expect(ds.train.count).toBe(15);
    expect(ds.test.count).toBe(4);
    expect(ds.train.images.length).toBe(15 * 3072);
    expect(mismatches(ds.train.images, range(0, 15))).toBe(0);
    expect(mismatches(ds.test.images, range(100, 104))).toBe(0);
    expect([...ds.train.labels]).toEqual(range(0, 15).map((i) => i % 10));
    expect([...ds.test.labels]).toEqual([0, 1, 2, 3]);
    expect(ds.classes).toEqual([...CIFAR10_CLASSES]);
    expect(ds.source).toMatchObject({ kind: "cifar-folder", path: folder });
    expect(ds.stats.mean).toHaveLength(3);
  });

  it("by default insists on the official record counts", async () => {
    await expect(loadCifarFolder(folder, "cifar10")).rejects.toThrow(
      `${join(folder, "data_batch_1.bin")}: expected 10,000 records (30,730,000 bytes), found 3 (9,219 bytes): truncated`,
    );
  });

  it("uses class names from batches.meta.txt when present", async () => {
    const d = join(tmp, "c10-names");
    mkdirSync(d);
    for (const [name, data] of cifar10Files()) writeFileSync(join(d, name), data);
    const names = range(0, 10).map((i) => `class${i}`);
    writeFileSync(join(d, "batches.meta.txt"), `${names.join("\n")}\n\n`);
    expect((await loadCifarFolder(d, "cifar10", { recordCounts: "any" })).classes).toEqual(names);
    writeFileSync(join(d, "batches.meta.txt"), "a\nb\n");
    await expect(loadCifarFolder(d, "cifar10", { recordCounts: "any" })).rejects.toThrow(
      /batches\.meta\.txt: expected 10 class names, found 2/,
    );
  });

  it("loads the same data from a .tar.gz with entries in any order", async () => {
    const files = cifar10Files();
    const order = [
      "test_batch.bin",
      "data_batch_3.bin",
      "data_batch_1.bin",
      "data_batch_5.bin",
      "data_batch_2.bin",
      "data_batch_4.bin",
    ];
    const entries = [
      { name: "cifar-10-batches-bin/readme.html", data: Buffer.from("<html></html>") },
      ...order.map((n) => ({ name: `cifar-10-batches-bin/${n}`, data: files.get(n) as Buffer })),
    ];
    const file = join(tmp, "cifar-10-binary.tar.gz");
    writeFileSync(file, gzipSync(packTar(entries)));
    const ds = await loadCifar(file, "cifar10", { recordCounts: "any" });
    expect(ds.source).toMatchObject({ kind: "cifar-archive", path: file });
    expect(Buffer.compare(ds.train.images, fromFolder.train.images)).toBe(0);
    expect(Buffer.compare(ds.train.labels, fromFolder.train.labels)).toBe(0);
    expect(Buffer.compare(ds.test.images, fromFolder.test.images)).toBe(0);
    expect(ds.stats).toEqual(fromFolder.stats);
  });

  it.skipIf(!hasTar())("reads archives made by GNU tar (gzip, pax, long names)", async () => {
    const deep = join(root, "x".repeat(60), "y".repeat(60));
    mkdirSync(deep, { recursive: true });
    for (const [name, data] of cifar10Files()) writeFileSync(join(deep, name), data);
    for (const format of ["gnu", "pax"]) {
      const file = join(tmp, `gnu-${format}.tar.gz`);
      execFileSync("tar", [`--format=${format}`, "-czf", file, "-C", root, "."]);
      const ds = await loadCifarArchive(file, "cifar10", { recordCounts: "any" }).catch((e) => e);
      // The archive holds the batches twice (short and long paths): must be refused, not mixed.
      expect(String(ds)).toMatch(/file appears twice/);
    }
    for (const format of ["gnu", "pax"]) {
      // Paths over 100 bytes: GNU ././@LongLink entries / pax "path" records.
      const file = join(tmp, `long-${format}.tar.gz`);
      execFileSync("tar", [`--format=${format}`, "-czf", file, "-C", root, "x".repeat(60)]);
      const ds = await loadCifarArchive(file, "cifar10", { recordCounts: "any" });
      expect(Buffer.compare(ds.train.images, fromFolder.train.images)).toBe(0);
      expect(Buffer.compare(ds.test.labels, fromFolder.test.labels)).toBe(0);
    }
  });

  it("reports missing batches, bad labels, truncation and corruption", async () => {
    const files = cifar10Files();
    const write = (name: string, entries: { name: string; data: Uint8Array }[]) => {
      const f = join(tmp, name);
      writeFileSync(f, gzipSync(packTar(entries)));
      return f;
    };
    const all = [...files].map(([name, data]) => ({ name, data }));
    const missing = write(
      "missing.tar.gz",
      all.filter((e) => e.name !== "data_batch_4.bin"),
    );
    await expect(loadCifarArchive(missing, "cifar10", { recordCounts: "any" })).rejects.toThrow(
      `${missing}: missing data_batch_4.bin`,
    );

    const badLabel = Buffer.from(files.get("data_batch_2.bin") as Buffer);
    badLabel[3073] = 10; // second record
    const bad = write(
      "badlabel.tar.gz",
      all.map((e) => (e.name === "data_batch_2.bin" ? { ...e, data: badLabel } : e)),
    );
    await expect(loadCifarArchive(bad, "cifar10", { recordCounts: "any" })).rejects.toThrow(
      `${bad}:data_batch_2.bin: label 10 in record 1 is out of range: expected 0..9 (10 classes)`,
    );

    const shortEntry = write(
      "short.tar.gz",
      all.map((e) => (e.name === "test_batch.bin" ? { ...e, data: e.data.subarray(0, 5000) } : e)),
    );
    await expect(loadCifarArchive(shortEntry, "cifar10", { recordCounts: "any" })).rejects.toThrow(
      /test_batch\.bin: size 5,000 bytes is not a whole number of 3,073-byte records/,
    );

    const whole = gzipSync(packTar(all));
    const cut = join(tmp, "cut.tar.gz");
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    await expect(loadCifarArchive(cut, "cifar10", { recordCounts: "any" })).rejects.toThrow(
      /cut\.tar\.gz: cannot read archive: gzip data is truncated or corrupt/,
    );

    const tar = packTar(all);
    tar[20] = 0x41; // inside the first header's name: checksum no longer matches
    const corrupt = join(tmp, "corrupt.tar");
    writeFileSync(corrupt, tar);
    await expect(loadCifarArchive(corrupt, "cifar10", { recordCounts: "any" })).rejects.toThrow(
      /corrupt\.tar: corrupt tar header at byte 0: checksum is \d+, computed \d+/,
    );

    const truncatedTar = join(tmp, "truncated.tar");
    writeFileSync(truncatedTar, packTar(all).subarray(0, 3 * 512 + 700));
    await expect(
      loadCifarArchive(truncatedTar, "cifar10", { recordCounts: "any" }),
    ).rejects.toThrow(/truncated tar archive: stream ended with [\d,]+ bytes of an entry missing/);
  });

  it("reports a folder with the wrong files", async () => {
    await expect(loadCifarFolder(tmp, "cifar10")).rejects.toThrow(
      /not a cifar10 folder: expected data_batch_1\.bin, .*test_batch\.bin/,
    );
  });
});

describe("CIFAR-100", () => {
  const dir = join(tmp, "c100", "cifar-100-binary");
  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    const rec = (i: number) => record(i, [i % 20, (i * 7) % 100]);
    writeFileSync(join(dir, "train.bin"), Buffer.concat(range(0, 6).map(rec)));
    writeFileSync(join(dir, "test.bin"), Buffer.concat(range(50, 52).map(rec)));
  });

  it("reads fine labels by default and coarse labels on request", async () => {
    const fine = await loadCifarFolder(join(tmp, "c100"), "cifar100", { recordCounts: "any" });
    expect(fine.name).toBe("cifar100");
    expect(fine.train.count).toBe(6);
    expect([...fine.train.labels]).toEqual(range(0, 6).map((i) => (i * 7) % 100));
    expect([...fine.test.labels]).toEqual([50, 57]);
    expect(fine.classes).toEqual([...CIFAR100_FINE_CLASSES]);
    expect(fine.classes).toHaveLength(100);
    expect(mismatches(fine.train.images, range(0, 6))).toBe(0);
    expect(mismatches(fine.test.images, [50, 51])).toBe(0);

    const coarse = await loadCifarFolder(dir, "cifar100", {
      labels: "coarse",
      recordCounts: "any",
    });
    expect(coarse.name).toBe("cifar100-coarse");
    expect([...coarse.train.labels]).toEqual(range(0, 6).map((i) => i % 20));
    expect(coarse.classes).toEqual([...CIFAR100_COARSE_CLASSES]);
    expect(coarse.classes).toHaveLength(20);
  });

  it("reads the archive and checks both label bytes", async () => {
    const file = join(tmp, "cifar-100-binary.tar.gz");
    const train = readFileSync(join(dir, "train.bin"));
    const test = readFileSync(join(dir, "test.bin"));
    const fineNames = range(0, 100).map((i) => `f${i}`);
    writeFileSync(
      file,
      gzipSync(
        packTar([
          {
            name: "cifar-100-binary/fine_label_names.txt",
            data: Buffer.from(fineNames.join("\n")),
          },
          { name: "cifar-100-binary/test.bin", data: test },
          { name: "cifar-100-binary/train.bin", data: train },
        ]),
      ),
    );
    const ds = await loadCifarArchive(file, "cifar100", { recordCounts: "any" });
    expect(ds.classes).toEqual(fineNames);
    expect(
      Buffer.compare(
        ds.train.images,
        (await loadCifarFolder(dir, "cifar100", { recordCounts: "any" })).train.images,
      ),
    ).toBe(0);

    const bad = Buffer.from(train);
    bad[2 * 3074] = 25; // coarse label of record 2
    const badFile = join(tmp, "bad100.tar.gz");
    writeFileSync(
      badFile,
      gzipSync(
        packTar([
          { name: "train.bin", data: bad },
          { name: "test.bin", data: test },
        ]),
      ),
    );
    await expect(loadCifarArchive(badFile, "cifar100", { recordCounts: "any" })).rejects.toThrow(
      /train\.bin: coarse label 25 in record 2 is out of range: expected 0\.\.19/,
    );
  });
});

describe("TarParser", () => {
  it("gives the same entries whatever the chunk boundaries", () => {
    const entries = [
      { name: "a.bin", data: Buffer.alloc(1000, 7) },
      { name: "empty", data: Buffer.alloc(0) },
      { name: "dir/b.txt", data: Buffer.from("hello tar") },
      { name: "c.bin", data: Buffer.from(range(0, 1536).map((i) => i & 255)) },
    ];
    const tar = packTar(entries);
    for (const step of [1, 7, 511, 512, 513, 100_000]) {
      const got = new Map<string, Buffer[]>();
      const ended: string[] = [];
      const p = new TarParser((e) => {
        got.set(e.name, []);
        return {
          write: (c) => void got.get(e.name)?.push(Buffer.from(c)),
          end: () => void ended.push(e.name),
        };
      }, "t.tar");
      for (let i = 0; i < tar.length; i += step) p.push(tar.subarray(i, i + step));
      p.finish();
      expect(ended).toEqual(entries.map((e) => e.name));
      for (const e of entries)
        expect(Buffer.concat(got.get(e.name) ?? []).equals(e.data)).toBe(true);
    }
  });
});
