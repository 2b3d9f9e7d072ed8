/** Public surface of the landscape core: test functions, smoothing, simulated SGD, experiments. */
export * from "./experiment.js";
export * from "./functions.js";
export * from "./kernels.js";
export * from "./simulate.js";
export * from "./smooth.js";
export * from "./stats.js";
