/**
 * Fashion-MNIST (Zalando Research, MIT licence): 60,000 train + 10,000 test
 * 28x28 grey images of clothing in 10 classes, in the MNIST idx layout.
 * Debian/Ubuntu ship it as `dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist.
 */
import { existsSync } from "node:fs";
import { hasIdxFiles, loadIdxFolder } from "./idx-folder.js";
import type { Dataset } from "./types.js";

export const FASHION_MNIST_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
] as const;

/** Where the Debian package `dataset-fashion-mnist` installs the files. */
export const FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";

export const FASHION_MNIST_DESCRIPTION =
  "Fashion-MNIST (Zalando Research, https://github.com/zalandoresearch/fashion-mnist, MIT licence)";

/**
 * What the idx files may declare: the official 60,000 + 10,000 images of
 * 28x28; subsets are fine, anything larger is refused before it is read.
 */
export const FASHION_MNIST_LIMITS = { train: 60_000, test: 10_000, rows: 28, cols: 28 } as const;

/** Official download location and MD5 sums of the gzipped files (from the upstream README). */
export const FASHION_MNIST_DOWNLOADS = {
  baseUrl: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  md5: {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
  },
} as const;

/** The system folder when it holds the four files, else null. */
export function findSystemFashionMnist(): string | null {
  return existsSync(FASHION_MNIST_SYSTEM_DIR) && hasIdxFiles(FASHION_MNIST_SYSTEM_DIR)
    ? FASHION_MNIST_SYSTEM_DIR
    : null;
}

/** Loads Fashion-MNIST from `dir` (default: the Debian package's folder). */
export function loadFashionMnist(dir: string = FASHION_MNIST_SYSTEM_DIR): Promise<Dataset> {
  return loadIdxFolder(dir, {
    name: "fashion-mnist",
    classes: FASHION_MNIST_CLASSES,
    description: FASHION_MNIST_DESCRIPTION,
    limits: FASHION_MNIST_LIMITS,
  });
}
