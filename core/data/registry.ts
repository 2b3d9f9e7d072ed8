/**
 * `loadDataset(nameOrPath)`: resolves a dataset name (or a path) to a loader,
 * looking in the usual places, optionally downloading into the cache, and
 * failing with a message that says where it looked and how to get the data.
 *
 * Search order for a named dataset, first hit wins:
 *   1. opts.dataDir, then $SGD_STUDIO_DATA_DIR, then the cache folder: each
 *      as `<root>/<folder>` (fashion-mnist, mnist, cifar-10-batches-bin,
 *      cifar-10-binary.tar.gz, cifar-100-binary, cifar-100-binary.tar.gz)
 *   2. the system folder (/usr/share/datasets/fashion-mnist for Fashion-MNIST)
 */
import { existsSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { DATASET_NAMES, type DatasetName } from "../api/lists.js";
import { defaultCacheDir } from "./cache-dir.js";
import {
  CIFAR_DOWNLOADS,
  type CifarOptions,
  type CifarVariant,
  findCifarFolder,
  loadCifar,
  loadCifarArchive,
  loadCifarFolder,
} from "./cifar.js";
import { readDatasetFile } from "./dataset-file.js";
import { type DownloadProgress, download } from "./download.js";
import { loadEmbedded } from "./embedded.js";
import { DatasetError } from "./errors.js";
import {
  FASHION_MNIST_DOWNLOADS,
  FASHION_MNIST_SYSTEM_DIR,
  loadFashionMnist,
} from "./fashion-mnist.js";
import { findIdxFiles, hasIdxFiles } from "./idx-folder.js";
import { loadMnist, MNIST_DOWNLOADS, MNIST_SYSTEM_DIR } from "./mnist.js";
import type { Dataset } from "./types.js";

/** The list of dataset names is declared in core/api/lists.ts. */
export { DATASET_NAMES, type DatasetName };

export interface LoadDatasetOptions {
  /** A folder searched first (as `<dataDir>/<dataset folder>`). */
  readonly dataDir?: string;
  /** Cache folder for downloads (default: defaultCacheDir()). */
  readonly cacheDir?: string;
  /** Download into the cache when the dataset is not found (default false). */
  readonly download?: boolean;
  readonly onProgress?: (file: string, p: DownloadProgress) => void;
  /** CIFAR files with non-official record counts are accepted when "any". */
  readonly recordCounts?: CifarOptions["recordCounts"];
  /** Also look in system folders such as /usr/share/datasets (default true). */
  readonly systemDirs?: boolean;
  /** Environment to read SGD_STUDIO_DATA_DIR / cache settings from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export function isDatasetName(s: string): s is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(s);
}

interface Candidate {
  readonly path: string;
  readonly load: () => Promise<Dataset>;
  /** True when something usable is there. */
  readonly present: () => boolean;
  /** Why it was not usable (for the not-found message). */
  readonly why: () => string;
}

function roots(opts: LoadDatasetOptions): string[] {
  const env = opts.env ?? process.env;
  const out: string[] = [];
  if (opts.dataDir) out.push(resolve(opts.dataDir));
  if (env.SGD_STUDIO_DATA_DIR) out.push(resolve(env.SGD_STUDIO_DATA_DIR));
  out.push(cacheDirOf(opts));
  return [...new Set(out)];
}

function cacheDirOf(opts: LoadDatasetOptions): string {
  return opts.cacheDir ?? defaultCacheDir(opts.env ?? process.env);
}

function idxCandidate(path: string, load: (dir: string) => Promise<Dataset>): Candidate {
  return {
    path,
    load: () => load(path),
    present: () => existsSync(path) && hasIdxFiles(path),
    why: () => {
      if (!existsSync(path)) return "does not exist";
      const { missing } = findIdxFiles(path);
      return `missing ${missing.join(", ")}`;
    },
  };
}

function cifarCandidates(variant: CifarVariant, root: string, opts: CifarOptions): Candidate[] {
  const d = CIFAR_DOWNLOADS[variant];
  const folder = join(root, variant === "cifar10" ? "cifar-10-batches-bin" : "cifar-100-binary");
  const archive = join(root, d.fileName);
  return [
    {
      path: folder,
      load: () => loadCifarFolder(folder, variant, opts),
      present: () => findCifarFolder(folder, variant) !== null,
      why: () => (existsSync(folder) ? "incomplete (no train/test .bin files)" : "does not exist"),
    },
    {
      path: archive,
      load: () => loadCifarArchive(archive, variant, opts),
      present: () => existsSync(archive),
      why: () => "does not exist",
    },
  ];
}

function candidatesFor(
  name: Exclude<DatasetName, "default">,
  opts: LoadDatasetOptions,
): Candidate[] {
  const rs = roots(opts);
  const sys = opts.systemDirs !== false;
  switch (name) {
    case "fashion-mnist":
      return [
        ...rs.map((r) => idxCandidate(join(r, "fashion-mnist"), loadFashionMnist)),
        ...(sys ? [idxCandidate(FASHION_MNIST_SYSTEM_DIR, loadFashionMnist)] : []),
      ];
    case "mnist":
      return [
        ...rs.map((r) => idxCandidate(join(r, "mnist"), loadMnist)),
        ...(sys ? [idxCandidate(MNIST_SYSTEM_DIR, loadMnist)] : []),
      ];
    case "cifar10":
      return rs.flatMap((r) => cifarCandidates("cifar10", r, { recordCounts: opts.recordCounts }));
    case "cifar100":
    case "cifar100-coarse": {
      const labels = name === "cifar100" ? "fine" : "coarse";
      return rs.flatMap((r) =>
        cifarCandidates("cifar100", r, { labels, recordCounts: opts.recordCounts }),
      );
    }
  }
}

function howToGet(name: Exclude<DatasetName, "default">, cacheDir: string): string {
  switch (name) {
    case "fashion-mnist":
      return [
        "To get it: apt-get install dataset-fashion-mnist (Debian/Ubuntu), or download",
        ...Object.entries(FASHION_MNIST_DOWNLOADS.md5).map(
          ([f, md5]) => `  ${FASHION_MNIST_DOWNLOADS.baseUrl}${f} (md5 ${md5})`,
        ),
        `into ${join(cacheDir, "fashion-mnist")}, or let SGD Studio fetch it (loadDataset option download: true).`,
      ].join("\n");
    case "mnist":
      return [
        `To get it: download (official site ${MNIST_DOWNLOADS.officialUrl}, or its mirror)`,
        ...Object.entries(MNIST_DOWNLOADS.md5).map(
          ([f, md5]) => `  ${MNIST_DOWNLOADS.baseUrl}${f} (md5 ${md5})`,
        ),
        `into ${join(cacheDir, "mnist")}, or let SGD Studio fetch it (loadDataset option download: true).`,
      ].join("\n");
    case "cifar10":
    case "cifar100":
    case "cifar100-coarse": {
      const d = CIFAR_DOWNLOADS[name === "cifar10" ? "cifar10" : "cifar100"];
      return [
        `To get it: download ${d.url}`,
        `  (${d.bytes.toLocaleString("en-US")} bytes, md5 ${d.md5}, sha256 ${d.sha256})`,
        `into ${cacheDir} (no need to extract it), or let SGD Studio fetch it (loadDataset option download: true).`,
      ].join("\n");
    }
  }
}

async function downloadNamed(
  name: Exclude<DatasetName, "default">,
  opts: LoadDatasetOptions,
): Promise<Dataset> {
  const cacheDir = cacheDirOf(opts);
  const progress = (file: string) => (p: DownloadProgress) => opts.onProgress?.(file, p);
  if (name === "fashion-mnist" || name === "mnist") {
    const d = name === "mnist" ? MNIST_DOWNLOADS : FASHION_MNIST_DOWNLOADS;
    const dir = join(cacheDir, name);
    for (const [file, md5] of Object.entries(d.md5)) {
      await download(`${d.baseUrl}${file}`, {
        cacheDir: dir,
        fileName: file,
        md5,
        onProgress: progress(file),
      });
    }
    return name === "mnist" ? loadMnist(dir) : loadFashionMnist(dir);
  }
  const variant: CifarVariant = name === "cifar10" ? "cifar10" : "cifar100";
  const d = CIFAR_DOWNLOADS[variant];
  const file = await download(d.url, {
    cacheDir,
    fileName: d.fileName,
    sha256: d.sha256,
    md5: d.md5,
    onProgress: progress(d.fileName),
  });
  return loadCifarArchive(file, variant, {
    labels: name === "cifar100-coarse" ? "coarse" : "fine",
    recordCounts: opts.recordCounts,
  });
}

/** Where `loadDataset(name)` looks, in order. */
export function datasetSearchPaths(name: DatasetName, opts: LoadDatasetOptions = {}): string[] {
  if (name === "default") return [];
  return candidatesFor(name, opts).map((c) => c.path);
}

/** Loads a dataset file or folder given by path, detecting its format. */
export async function loadDatasetPath(
  path: string,
  opts: LoadDatasetOptions = {},
): Promise<Dataset> {
  const p = resolve(path);
  if (!existsSync(p)) throw new DatasetError("no such file or folder", p);
  const base = basename(p).toLowerCase();
  const cifarOpts = { recordCounts: opts.recordCounts };
  if (statSync(p).isFile()) {
    if (/\.sgdds(\.gz)?$/.test(base)) return readDatasetFile(p);
    if (/\.(tar\.gz|tgz|tar)$/.test(base)) {
      return loadCifarArchive(p, /cifar-?100/.test(base) ? "cifar100" : "cifar10", cifarOpts);
    }
    throw new DatasetError(
      "unknown dataset file type: expected a .sgdds.gz dataset file or a CIFAR .tar.gz archive",
      p,
    );
  }
  if (hasIdxFiles(p)) return /fashion/.test(base) ? loadFashionMnist(p) : loadMnist(p);
  if (findCifarFolder(p, "cifar10")) return loadCifar(p, "cifar10", cifarOpts);
  if (findCifarFolder(p, "cifar100")) return loadCifar(p, "cifar100", cifarOpts);
  throw new DatasetError(
    "no dataset found in this folder: expected the four MNIST idx files, CIFAR-10 data_batch_1..5.bin + test_batch.bin, or CIFAR-100 train.bin + test.bin",
    p,
  );
}

/**
 * Loads a dataset by name ("default" is the embedded Fashion-MNIST subset)
 * or by path (a folder or file; see loadDatasetPath).
 */
export async function loadDataset(
  nameOrPath: string,
  opts: LoadDatasetOptions = {},
): Promise<Dataset> {
  if (!isDatasetName(nameOrPath)) {
    if (existsSync(nameOrPath)) return loadDatasetPath(nameOrPath, opts);
    throw new DatasetError(
      `unknown dataset "${nameOrPath}": not one of ${DATASET_NAMES.join(", ")}, and no file or folder of that name exists`,
    );
  }
  const name = nameOrPath;
  if (name === "default") return loadEmbedded();
  const candidates = candidatesFor(name, opts);
  const hit = candidates.find((c) => c.present());
  if (hit) return hit.load();
  if (opts.download) return downloadNamed(name, opts);
  const looked = candidates.map((c) => `  ${c.path} (${c.why()})`).join("\n");
  throw new DatasetError(
    `dataset "${name}" not found. Looked in:\n${looked}\n${howToGet(name, cacheDirOf(opts))}`,
  );
}
