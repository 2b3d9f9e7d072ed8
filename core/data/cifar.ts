/**
 * CIFAR-10 and CIFAR-100, binary version (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * CIFAR-10: data_batch_1.bin .. data_batch_5.bin (train), test_batch.bin;
 * records of 1 label byte + 3,072 pixel bytes. CIFAR-100: train.bin, test.bin;
 * records of 2 label bytes (coarse, fine) + 3,072. Pixels are CHW (1,024 red,
 * then green, then blue, rows top to bottom); they are converted to HWC.
 *
 * Loads from a folder (the files themselves, or the archive's extracted
 * `cifar-10-batches-bin` / `cifar-100-binary` folder inside it) or straight
 * from the official .tar.gz, streamed: the archive is never held in memory;
 * pixel bytes go from the gunzip stream into the final arrays.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { DatasetError, fmt } from "./errors.js";
import { computeChannelStats } from "./stats.js";
import { readTar, type TarEntry } from "./tar.js";
import type { Dataset, DatasetSource, ImageShape, Split } from "./types.js";

const PIXELS = 32 * 32;
const IMAGE_BYTES = 3 * PIXELS;
const SHAPE: ImageShape = [32, 32, 3];

export const CIFAR10_CLASSES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
] as const;

export const CIFAR100_COARSE_CLASSES = [
  "aquatic_mammals",
  "fish",
  "flowers",
  "food_containers",
  "fruit_and_vegetables",
  "household_electrical_devices",
  "household_furniture",
  "insects",
  "large_carnivores",
  "large_man-made_outdoor_things",
  "large_natural_outdoor_scenes",
  "large_omnivores_and_herbivores",
  "medium_mammals",
  "non-insect_invertebrates",
  "people",
  "reptiles",
  "small_mammals",
  "trees",
  "vehicles_1",
  "vehicles_2",
] as const;

export const CIFAR100_FINE_CLASSES = [
  ...["apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle"],
  ...["bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle"],
  ...["caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch"],
  ...["crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest"],
  ...["fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower"],
  ...["leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain"],
  ...["mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear"],
  ...["pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit"],
  ...["raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk"],
  ...["skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower"],
  ...["sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor", "train"],
  ...["trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm"],
] as const;

export const CIFAR_DESCRIPTION =
  "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images (2009), https://www.cs.toronto.edu/~kriz/cifar.html";

/** Official archives (binary version): URL, size, MD5 from the CIFAR page, SHA-256. */
export const CIFAR_DOWNLOADS = {
  cifar10: {
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    fileName: "cifar-10-binary.tar.gz",
    bytes: 170_052_171,
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
    sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
  },
  cifar100: {
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    fileName: "cifar-100-binary.tar.gz",
    bytes: 168_513_733,
    md5: "03b5dce01913d631647c71ecec9e9cb8",
    sha256: "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
  },
} as const;

export type CifarVariant = "cifar10" | "cifar100";

/**
 * Most bytes of tar data a CIFAR archive may inflate to: 256 MiB. The
 * official archives hold about 184 MB (CIFAR-10: six files of 30,730,000
 * bytes; CIFAR-100: 153,700,000 + 30,740,000), so this leaves ~45% margin
 * and stops a gzip bomb long before memory runs out.
 */
export const CIFAR_ARCHIVE_MAX_BYTES = 256 * 1024 * 1024;

export interface CifarOptions {
  /** CIFAR-100 only: which label to use (default "fine", 100 classes; "coarse" has 20). */
  labels?: "fine" | "coarse";
  /**
   * "official" (default): each file must hold the official number of records
   * (10,000 per CIFAR-10 batch, 50,000/10,000 for CIFAR-100 train/test), so a
   * truncated file is an error. "any": any whole number of records (for
   * subsets and tests).
   */
  recordCounts?: "official" | "any";
}

interface Layout {
  readonly variant: CifarVariant;
  readonly labelBytes: 1 | 2;
  readonly folder: string;
  readonly trainFiles: readonly string[];
  readonly testFile: string;
  readonly officialTrainRecords: number; // per train file
  readonly officialTestRecords: number;
}

const LAYOUTS: Record<CifarVariant, Layout> = {
  cifar10: {
    variant: "cifar10",
    labelBytes: 1,
    folder: "cifar-10-batches-bin",
    trainFiles: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    testFile: "test_batch.bin",
    officialTrainRecords: 10_000,
    officialTestRecords: 10_000,
  },
  cifar100: {
    variant: "cifar100",
    labelBytes: 2,
    folder: "cifar-100-binary",
    trainFiles: ["train.bin"],
    testFile: "test.bin",
    officialTrainRecords: 50_000,
    officialTestRecords: 10_000,
  },
};

interface Variant {
  readonly layout: Layout;
  readonly name: string;
  readonly labelOffset: 0 | 1; // which label byte to keep
  readonly classesFile: string;
  readonly defaultClasses: readonly string[];
}

function variantOf(variant: CifarVariant, opts: CifarOptions): Variant {
  if (variant === "cifar10") {
    return {
      layout: LAYOUTS.cifar10,
      name: "cifar10",
      labelOffset: 0,
      classesFile: "batches.meta.txt",
      defaultClasses: CIFAR10_CLASSES,
    };
  }
  const coarse = opts.labels === "coarse";
  return {
    layout: LAYOUTS.cifar100,
    name: coarse ? "cifar100-coarse" : "cifar100",
    labelOffset: coarse ? 0 : 1,
    classesFile: coarse ? "coarse_label_names.txt" : "fine_label_names.txt",
    defaultClasses: coarse ? CIFAR100_COARSE_CLASSES : CIFAR100_FINE_CLASSES,
  };
}

/**
 * Converts a stream of records into HWC images and labels written into
 * `images`/`labels` from record `first` on, checking every label.
 */
class RecordWriter {
  private readonly recordSize: number;
  private readonly partial: Uint8Array;
  private partialFill = 0;
  private written = 0;

  constructor(
    private readonly file: string,
    private readonly count: number,
    private readonly labelBytes: number,
    private readonly labelOffset: number,
    private readonly numClasses: number,
    private readonly images: Uint8Array,
    private readonly labels: Uint8Array,
    private readonly first: number,
  ) {
    this.recordSize = labelBytes + IMAGE_BYTES;
    this.partial = new Uint8Array(this.recordSize);
  }

  write(chunk: Uint8Array): void {
    let pos = 0;
    if (this.partialFill > 0) {
      const n = Math.min(this.recordSize - this.partialFill, chunk.length);
      this.partial.set(chunk.subarray(0, n), this.partialFill);
      this.partialFill += n;
      pos = n;
      if (this.partialFill < this.recordSize) return;
      this.record(this.partial, 0);
      this.partialFill = 0;
    }
    while (chunk.length - pos >= this.recordSize) {
      this.record(chunk, pos);
      pos += this.recordSize;
    }
    if (pos < chunk.length) {
      this.partial.set(chunk.subarray(pos), 0);
      this.partialFill = chunk.length - pos;
    }
  }

  end(): void {
    if (this.partialFill !== 0 || this.written !== this.count) {
      throw new DatasetError(
        `truncated: expected ${fmt(this.count)} records, found ${fmt(this.written)} and ${fmt(this.partialFill)} stray bytes`,
        this.file,
      );
    }
  }

  private record(buf: Uint8Array, at: number): void {
    if (this.written >= this.count) {
      throw new DatasetError(`trailing data: more than ${fmt(this.count)} records`, this.file);
    }
    const label = buf[at + this.labelOffset] as number;
    if (label >= this.numClasses) {
      throw new DatasetError(
        `label ${label} in record ${fmt(this.written)} is out of range: expected 0..${this.numClasses - 1} (${this.numClasses} classes)`,
        this.file,
      );
    }
    if (this.labelBytes === 2) {
      // Check the other label byte too: a corrupt record is not silently half-used.
      const other = buf[at + 1 - this.labelOffset] as number;
      const otherMax = this.labelOffset === 1 ? 20 : 100;
      if (other >= otherMax) {
        throw new DatasetError(
          `${this.labelOffset === 1 ? "coarse" : "fine"} label ${other} in record ${fmt(this.written)} is out of range: expected 0..${otherMax - 1}`,
          this.file,
        );
      }
    }
    const index = this.first + this.written;
    this.labels[index] = label;
    const src = at + this.labelBytes;
    const dst = index * IMAGE_BYTES;
    const out = this.images;
    for (let p = 0; p < PIXELS; p++) {
      const o = dst + p * 3;
      out[o] = buf[src + p] as number;
      out[o + 1] = buf[src + PIXELS + p] as number;
      out[o + 2] = buf[src + 2 * PIXELS + p] as number;
    }
    this.written++;
  }
}

/**
 * Assembles one split from its files, which may arrive in any order. When all
 * record counts are known up front (official counts, or file sizes in a
 * folder) the output is allocated once and each file written in place;
 * otherwise each file gets its own arrays, concatenated in file order at the end.
 */
class SplitAssembler {
  private readonly parts = new Map<
    number,
    { images: Uint8Array; labels: Uint8Array; count: number }
  >();
  private readonly whole: { images: Uint8Array; labels: Uint8Array; starts: number[] } | null;

  constructor(
    private readonly files: readonly string[],
    private readonly v: Variant,
    private readonly numClasses: number,
    private readonly knownCounts: readonly number[] | null,
    private readonly where: string,
  ) {
    if (knownCounts) {
      const total = knownCounts.reduce((a, b) => a + b, 0);
      const starts: number[] = [];
      let s = 0;
      for (const c of knownCounts) {
        starts.push(s);
        s += c;
      }
      this.whole = {
        images: new Uint8Array(total * IMAGE_BYTES),
        labels: new Uint8Array(total),
        starts,
      };
    } else {
      this.whole = null;
    }
  }

  /** A writer for file `index` whose size in bytes is `bytes`. */
  writer(index: number, bytes: number, fileLabel: string): RecordWriter {
    const recordSize = this.v.layout.labelBytes + IMAGE_BYTES;
    if (bytes % recordSize !== 0) {
      throw new DatasetError(
        `size ${fmt(bytes)} bytes is not a whole number of ${fmt(recordSize)}-byte records (truncated or not a ${this.v.layout.variant} file)`,
        fileLabel,
      );
    }
    const count = bytes / recordSize;
    if (this.parts.has(index)) throw new DatasetError("file appears twice", fileLabel);
    if (this.whole && this.knownCounts) {
      const expected = this.knownCounts[index] as number;
      if (count !== expected) {
        throw new DatasetError(
          `expected ${fmt(expected)} records (${fmt(expected * recordSize)} bytes), found ${fmt(count)} (${fmt(bytes)} bytes)${count < expected ? ": truncated" : ""}`,
          fileLabel,
        );
      }
      this.parts.set(index, { images: this.whole.images, labels: this.whole.labels, count });
      return this.makeWriter(
        fileLabel,
        count,
        this.whole.images,
        this.whole.labels,
        this.whole.starts[index] as number,
      );
    }
    const part = {
      images: new Uint8Array(count * IMAGE_BYTES),
      labels: new Uint8Array(count),
      count,
    };
    this.parts.set(index, part);
    return this.makeWriter(fileLabel, count, part.images, part.labels, 0);
  }

  private makeWriter(
    file: string,
    count: number,
    images: Uint8Array,
    labels: Uint8Array,
    first: number,
  ): RecordWriter {
    const { labelBytes } = this.v.layout;
    return new RecordWriter(
      file,
      count,
      labelBytes,
      this.v.labelOffset,
      this.numClasses,
      images,
      labels,
      first,
    );
  }

  finish(): Split {
    const missing = this.files.filter((_, i) => !this.parts.has(i));
    if (missing.length > 0) {
      throw new DatasetError(`missing ${missing.join(", ")}`, this.where);
    }
    if (this.whole) {
      return {
        images: this.whole.images,
        labels: this.whole.labels,
        count: this.whole.labels.length,
      };
    }
    const parts = this.files.map(
      (_, i) => this.parts.get(i) as { images: Uint8Array; labels: Uint8Array; count: number },
    );
    if (parts.length === 1) {
      const p = parts[0] as { images: Uint8Array; labels: Uint8Array; count: number };
      return { images: p.images, labels: p.labels, count: p.count };
    }
    const count = parts.reduce((a, p) => a + p.count, 0);
    const images = new Uint8Array(count * IMAGE_BYTES);
    const labels = new Uint8Array(count);
    let at = 0;
    for (const p of parts) {
      images.set(p.images, at * IMAGE_BYTES);
      labels.set(p.labels, at);
      at += p.count;
    }
    return { images, labels, count };
  }
}

function parseClassNames(text: string, expected: number, file: string): string[] {
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (names.length !== expected) {
    throw new DatasetError(`expected ${expected} class names, found ${names.length}`, file);
  }
  return names;
}

/** The folder that holds the CIFAR files: `dir` itself or its standard subfolder; null if neither. */
export function findCifarFolder(dir: string, variant: CifarVariant): string | null {
  const layout = LAYOUTS[variant];
  for (const d of [dir, join(dir, layout.folder)]) {
    if (
      existsSync(join(d, layout.testFile)) &&
      existsSync(join(d, layout.trainFiles[0] as string))
    ) {
      return d;
    }
  }
  return null;
}

function officialCounts(layout: Layout): { train: number[]; test: number[] } {
  return {
    train: layout.trainFiles.map(() => layout.officialTrainRecords),
    test: [layout.officialTestRecords],
  };
}

function numClassesOf(v: Variant): number {
  return v.defaultClasses.length;
}

function makeDataset(
  v: Variant,
  train: Split,
  test: Split,
  classes: string[],
  source: DatasetSource,
): Dataset {
  return {
    name: v.name,
    train,
    test,
    classes,
    shape: SHAPE,
    source,
    stats: computeChannelStats(train.images, SHAPE),
  };
}

/** Loads CIFAR from a folder holding the .bin files (or their standard subfolder). */
export async function loadCifarFolder(
  dir: string,
  variant: CifarVariant,
  opts: CifarOptions = {},
): Promise<Dataset> {
  const v = variantOf(variant, opts);
  const layout = v.layout;
  const folder = findCifarFolder(dir, variant);
  if (!folder) {
    throw new DatasetError(
      `not a ${variant} folder: expected ${[...layout.trainFiles, layout.testFile].join(", ")} in it or in its ${layout.folder}/ subfolder`,
      dir,
    );
  }
  const recordSize = layout.labelBytes + IMAGE_BYTES;
  const n = numClassesOf(v);
  const sizeOf = (name: string): number => {
    const p = join(folder, name);
    if (!existsSync(p)) throw new DatasetError(`missing ${name}`, folder);
    return statSync(p).size;
  };
  const official = opts.recordCounts !== "any";
  const counts = official
    ? officialCounts(layout)
    : {
        // Exact counts from file sizes; a bad size is reported by the writer.
        train: layout.trainFiles.map((f) => Math.floor(sizeOf(f) / recordSize)),
        test: [Math.floor(sizeOf(layout.testFile) / recordSize)],
      };
  const trainA = new SplitAssembler(layout.trainFiles, v, n, counts.train, folder);
  const testA = new SplitAssembler([layout.testFile], v, n, counts.test, folder);
  const jobs: [SplitAssembler, number, string][] = [
    ...layout.trainFiles.map((f, i): [SplitAssembler, number, string] => [trainA, i, f]),
    [testA, 0, layout.testFile],
  ];
  for (const [assembler, index, name] of jobs) {
    const path = join(folder, name);
    const writer = assembler.writer(index, sizeOf(name), path);
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      writer.write(chunk as Buffer);
    }
    writer.end();
  }
  const namesFile = join(folder, v.classesFile);
  const classes = existsSync(namesFile)
    ? parseClassNames(await readFile(namesFile, "utf8"), n, namesFile)
    : [...v.defaultClasses];
  return makeDataset(v, trainA.finish(), testA.finish(), classes, {
    kind: "cifar-folder",
    path: folder,
    description: `${variant === "cifar10" ? "CIFAR-10" : "CIFAR-100"} (${CIFAR_DESCRIPTION})`,
  });
}

/** Loads CIFAR straight from the official .tar.gz (or a .tar), streaming it once. */
export async function loadCifarArchive(
  file: string,
  variant: CifarVariant,
  opts: CifarOptions = {},
): Promise<Dataset> {
  const v = variantOf(variant, opts);
  const layout = v.layout;
  const n = numClassesOf(v);
  const official = opts.recordCounts !== "any";
  const counts = official ? officialCounts(layout) : null;
  const trainA = new SplitAssembler(layout.trainFiles, v, n, counts?.train ?? null, file);
  const testA = new SplitAssembler([layout.testFile], v, n, counts?.test ?? null, file);
  let namesText: string | null = null;
  let declared = 0; // bytes of the entries whose data is kept
  const limit = fmt(CIFAR_ARCHIVE_MAX_BYTES);
  const keep = (entry: TarEntry, label: string) => {
    declared += entry.size;
    if (declared > CIFAR_ARCHIVE_MAX_BYTES) {
      throw new DatasetError(
        `tar header declares ${fmt(entry.size)} bytes${declared > entry.size ? ` (${fmt(declared)} with the files before it)` : ""}, more than the ${limit} bytes a ${variant} archive may hold (CIFAR_ARCHIVE_MAX_BYTES; the official one holds about 184,000,000): the archive is damaged or not ${variant}; delete it and fetch it again`,
        label,
      );
    }
  };
  const readOptions = {
    maxBytes: CIFAR_ARCHIVE_MAX_BYTES,
    maxBytesReason: `the most a ${variant} archive may hold (CIFAR_ARCHIVE_MAX_BYTES; the official one holds about 184,000,000)`,
  };
  await readTar(
    file,
    (entry) => {
      if (entry.type !== "file") return null;
      const base = basename(entry.name);
      const label = `${file}:${entry.name}`;
      const t = layout.trainFiles.indexOf(base);
      if (t >= 0 || base === layout.testFile) keep(entry, label);
      if (t >= 0) return trainA.writer(t, entry.size, label);
      if (base === layout.testFile) return testA.writer(0, entry.size, label);
      if (base === v.classesFile && entry.size < 65536) {
        const parts: Buffer[] = [];
        return {
          write: (c) => void parts.push(Buffer.from(c)),
          end: () => {
            namesText = Buffer.concat(parts).toString("utf8");
          },
        };
      }
      return null;
    },
    readOptions,
  );
  const train = trainA.finish();
  const test = testA.finish();
  const classes =
    namesText !== null
      ? parseClassNames(namesText, n, `${file}:${v.classesFile}`)
      : [...v.defaultClasses];
  return makeDataset(v, train, test, classes, {
    kind: "cifar-archive",
    path: file,
    description: `${variant === "cifar10" ? "CIFAR-10" : "CIFAR-100"} (${CIFAR_DESCRIPTION})`,
  });
}

/** Loads CIFAR from a folder or an archive file, whichever `path` is. */
export function loadCifar(
  path: string,
  variant: CifarVariant,
  opts: CifarOptions = {},
): Promise<Dataset> {
  if (existsSync(path) && statSync(path).isFile()) return loadCifarArchive(path, variant, opts);
  return loadCifarFolder(path, variant, opts);
}
