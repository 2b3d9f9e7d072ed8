/**
 * Builds assets/fashion-mnist-12k.sgdds.gz, the embedded default dataset, from
 * the Debian package's Fashion-MNIST files (apt-get install dataset-fashion-mnist).
 * Deterministic: the same input files give the same payload (and, with the
 * same zlib, the same bytes).
 *
 *   npx tsx scripts/make-embedded-dataset.ts [fashion-mnist-dir] [output-file]
 */
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeDatasetFile, payloadSha256 } from "../core/data/dataset-file.js";
import { buildEmbeddedSubset, EMBEDDED_ASSET_NAME } from "../core/data/embedded.js";
import { FASHION_MNIST_SYSTEM_DIR, loadFashionMnist } from "../core/data/fashion-mnist.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const inputDir = process.argv[2] ?? FASHION_MNIST_SYSTEM_DIR;
const output = process.argv[3] ?? join(root, "assets", EMBEDDED_ASSET_NAME);

const fashion = await loadFashionMnist(inputDir);
const subset = buildEmbeddedSubset(fashion);
const bytes = encodeDatasetFile(subset);
writeFileSync(output, bytes);
console.log(
  `wrote ${output}: ${subset.train.count} train + ${subset.test.count} test images, ` +
    `${bytes.length} bytes, payload sha256 ${payloadSha256(subset)}`,
);
