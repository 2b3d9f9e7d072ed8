/** Public surface of the schedule core. */
export * from "./compile.js";
export * from "./limits.js";
export * from "./presets.js";
export * from "./relative.js";
export * from "./spec.js";
export * from "./validate.js";
