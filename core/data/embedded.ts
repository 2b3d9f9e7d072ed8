/**
 * The embedded default dataset, shipped in `assets/`: a fixed, class-balanced
 * subset of Fashion-MNIST. Train: the first 1,000 images of each class of
 * the 60,000-image training file, in file order (10,000 images). Test: the
 * first 200 of each class of the 10,000-image test file, in file order (2,000).
 * Built by `scripts/make-embedded-dataset.ts`; stored in the dataset-file
 * format (gzip, payload SHA-256 checked at load).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DatasetFileContent } from "./dataset-file.js";
import { payloadSha256, readDatasetFile } from "./dataset-file.js";
import { DatasetError, fmt } from "./errors.js";
import { FASHION_MNIST_DESCRIPTION } from "./fashion-mnist.js";
import type { Dataset, ImageShape, Split } from "./types.js";
import { imageSize } from "./types.js";

export const EMBEDDED_ASSET_NAME = "fashion-mnist-12k.sgdds.gz";
export const EMBEDDED_NAME = "fashion-mnist-12k";
export const EMBEDDED_TRAIN_PER_CLASS = 1000;
export const EMBEDDED_TEST_PER_CLASS = 200;
/** SHA-256 of the asset's payload: pins the exact subset (update it when regenerating on purpose). */
export const EMBEDDED_PAYLOAD_SHA256 =
  "d5b91c929ef64cdf3fac6a13820932f698037ef77030a9584f3d6499a1ccee00";

/**
 * The first `perClass` images of each class, kept in file order. Throws if a
 * class has fewer.
 */
export function selectFirstPerClass(
  split: Split,
  shape: ImageShape,
  numClasses: number,
  perClass: number,
): Split {
  const counts = new Array<number>(numClasses).fill(0);
  const picked: number[] = [];
  for (let i = 0; i < split.count && picked.length < numClasses * perClass; i++) {
    const label = split.labels[i] as number;
    if (label < numClasses && (counts[label] as number) < perClass) {
      counts[label] = (counts[label] as number) + 1;
      picked.push(i);
    }
  }
  const short = counts.findIndex((c) => c < perClass);
  if (short >= 0) {
    throw new DatasetError(
      `class ${short} has only ${fmt(counts[short] as number)} images, ${fmt(perClass)} are needed`,
    );
  }
  const size = imageSize(shape);
  const images = new Uint8Array(picked.length * size);
  const labels = new Uint8Array(picked.length);
  picked.forEach((src, k) => {
    images.set(split.images.subarray(src * size, (src + 1) * size), k * size);
    labels[k] = split.labels[src] as number;
  });
  return { images, labels, count: picked.length };
}

/** The embedded subset of a full Fashion-MNIST dataset (what the generator writes). */
export function buildEmbeddedSubset(fashion: Dataset): DatasetFileContent {
  const n = fashion.classes.length;
  return {
    name: EMBEDDED_NAME,
    classes: [...fashion.classes],
    shape: fashion.shape,
    train: selectFirstPerClass(fashion.train, fashion.shape, n, EMBEDDED_TRAIN_PER_CLASS),
    test: selectFirstPerClass(fashion.test, fashion.shape, n, EMBEDDED_TEST_PER_CLASS),
    description: `${FASHION_MNIST_DESCRIPTION}; subset: first ${EMBEDDED_TRAIN_PER_CLASS} train and first ${EMBEDDED_TEST_PER_CLASS} test images of each class, in file order`,
  };
}

/** Folders searched for the asset, in order. */
export function embeddedAssetCandidates(): string[] {
  const out: string[] = [];
  const env = process.env.SGD_STUDIO_ASSETS_DIR;
  if (env) out.push(join(env, EMBEDDED_ASSET_NAME));
  // Packaged app: electron-builder puts it in resources/assets (an extra resource).
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  if (resources) out.push(join(resources, "assets", EMBEDDED_ASSET_NAME));
  // core/data -> repo root; dist/core/data -> repo root one level further up.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    dir = dirname(dir);
    out.push(join(dir, "assets", EMBEDDED_ASSET_NAME));
  }
  return out;
}

export function findEmbeddedAsset(): string | null {
  return embeddedAssetCandidates().find((p) => existsSync(p)) ?? null;
}

export async function loadEmbedded(): Promise<Dataset> {
  const file = findEmbeddedAsset();
  if (!file) {
    throw new DatasetError(
      `embedded dataset ${EMBEDDED_ASSET_NAME} not found; looked in:\n  ${embeddedAssetCandidates().join("\n  ")}\nRebuild it with: npx tsx scripts/make-embedded-dataset.ts (needs apt-get install dataset-fashion-mnist), or set SGD_STUDIO_ASSETS_DIR`,
    );
  }
  const ds = await readDatasetFile(file);
  // The header checksum was verified against the payload; this pins which payload.
  const sha = payloadSha256(ds);
  if (sha !== EMBEDDED_PAYLOAD_SHA256) {
    throw new DatasetError(
      `not the expected embedded dataset: payload SHA-256 is ${sha}, expected ${EMBEDDED_PAYLOAD_SHA256}; restore the file from the repository or rebuild it with scripts/make-embedded-dataset.ts`,
      file,
    );
  }
  return { ...ds, source: { ...ds.source, kind: "embedded" } };
}
