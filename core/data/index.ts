/** Public surface of the dataset layer (plain typed arrays; no tfjs). */
export * from "./augment.js";
export * from "./batches.js";
export * from "./cache-dir.js";
export * from "./cifar.js";
export * from "./dataset-file.js";
export * from "./download.js";
export * from "./embedded.js";
export * from "./errors.js";
export * from "./fashion-mnist.js";
export * from "./idx.js";
export * from "./idx-folder.js";
export * from "./mnist.js";
export * from "./registry.js";
export * from "./rng.js";
export * from "./stats.js";
export * from "./tar.js";
export * from "./types.js";
