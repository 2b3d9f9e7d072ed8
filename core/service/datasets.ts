/** The datasets method: which datasets this machine has, where, and how to get the others. */
import { existsSync } from "node:fs";
import type { DatasetInfo } from "../api/contract.js";
import { DATASET_NAMES, type DatasetName, datasetSearchPaths } from "../data/registry.js";

const DESCRIPTIONS: Record<DatasetName, string> = {
  default: "Embedded Fashion-MNIST subset: 10,000 train / 2,000 test images, shipped with the app",
  "fashion-mnist": "Fashion-MNIST: 60,000 train / 10,000 test 28x28 grey images, 10 classes",
  mnist: "MNIST: 60,000 train / 10,000 test 28x28 digits",
  cifar10: "CIFAR-10: 50,000 train / 10,000 test 32x32 colour images, 10 classes",
  cifar100: "CIFAR-100: 50,000 train / 10,000 test 32x32 colour images, 100 classes",
  "cifar100-coarse": "CIFAR-100 with its 20 coarse labels",
};

const HINTS: Partial<Record<DatasetName, string>> = {
  "fashion-mnist":
    "apt-get install dataset-fashion-mnist, or put the four idx files in a folder and give its path",
  mnist: "put the four MNIST idx files (gzipped or not) in a folder and give its path",
  cifar10: "download cifar-10-binary.tar.gz (see docs/datasets.md) and give its path",
  cifar100: "download cifar-100-binary.tar.gz (see docs/datasets.md) and give its path",
  "cifar100-coarse": "download cifar-100-binary.tar.gz (see docs/datasets.md) and give its path",
};

export function listDatasets(dataDir?: string): DatasetInfo[] {
  return DATASET_NAMES.map((name) => {
    if (name === "default") {
      return {
        name,
        available: true,
        where: "embedded",
        description: DESCRIPTIONS[name],
        hint: null,
      };
    }
    const where =
      datasetSearchPaths(name, dataDir ? { dataDir } : {}).find((p) => existsSync(p)) ?? null;
    return {
      name,
      available: where !== null,
      where,
      description: DESCRIPTIONS[name],
      hint: where === null ? (HINTS[name] ?? null) : null,
    };
  });
}
