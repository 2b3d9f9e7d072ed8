/**
 * MNIST handwritten digits (Yann LeCun, Corinna Cortes, Chris Burges):
 * 60,000 train + 10,000 test 28x28 grey images, 10 classes, idx layout.
 */
import { loadIdxFolder } from "./idx-folder.js";
import type { Dataset } from "./types.js";

export const MNIST_CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] as const;

/** Folder checked for a system-wide copy (no Debian package ships MNIST today). */
export const MNIST_SYSTEM_DIR = "/usr/share/datasets/mnist";

export const MNIST_DESCRIPTION =
  "MNIST (Y. LeCun, C. Cortes, C. J. C. Burges, http://yann.lecun.com/exdb/mnist/, CC BY-SA 3.0)";

/**
 * What the idx files may declare: the official 60,000 + 10,000 images of
 * 28x28; subsets are fine, anything larger is refused before it is read.
 */
export const MNIST_LIMITS = { train: 60_000, test: 10_000, rows: 28, cols: 28 } as const;

/**
 * Official location (often unreachable; torchvision's mirror serves the same
 * files) and MD5 sums of the gzipped files.
 */
export const MNIST_DOWNLOADS = {
  baseUrl: "https://ossci-datasets.s3.amazonaws.com/mnist/",
  officialUrl: "http://yann.lecun.com/exdb/mnist/",
  md5: {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
  },
} as const;

export function loadMnist(dir: string): Promise<Dataset> {
  return loadIdxFolder(dir, {
    name: "mnist",
    classes: MNIST_CLASSES,
    description: MNIST_DESCRIPTION,
    limits: MNIST_LIMITS,
  });
}
