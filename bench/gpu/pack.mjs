#!/usr/bin/env node
/**
 * Packs what the GPU benchmarks need into .gpu/bundle.tar.xz, for a machine
 * that has no node and no npm (the device machine: `carry: [".gpu"]`, then
 * `bash bench/gpu/run.sh`, see bench/gpu/README.md):
 *
 *   node            this machine's node binary (x86-64 Linux)
 *   app/            core/ and the benchmarks compiled by tsc (bench/gpu/tsconfig.json)
 *   app/node_modules  only the runtime files of the packages they load
 *   lib/libvulkan.so.1  the Vulkan loader, for a GPU image without one
 *
 * The carry limit is 64 MiB; the archive is ~40 MiB, most of it node and Dawn.
 * Run: node bench/gpu/pack.mjs   (after npm ci)
 *      node bench/gpu/pack.mjs --stage-only DIR   (lay it out in DIR, no archive)
 */
import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const out = path.join(root, ".gpu");
// --stage-only DIR: lay the bundle out in DIR and stop (no archive; the test
// of this script runs bench/gpu/run.sh on it).
const stageOnly = process.argv.indexOf("--stage-only");
const stage =
  stageOnly >= 0 ? path.resolve(process.argv[stageOnly + 1] ?? "") : path.join(out, "stage");
const app = path.join(stage, "app");
const modules = path.join(app, "node_modules");

/**
 * Files to keep per package (relative to the package); others are copied
 * whole. tfjs's packages ship many builds; Node loads only `*.node.js`.
 */
const KEEP = {
  "@tensorflow/tfjs-core": ["package.json", "dist/tf-core.node.js"],
  "@tensorflow/tfjs-backend-cpu": ["package.json", "dist/tf-backend-cpu.node.js"],
  "@tensorflow/tfjs-backend-webgpu": ["package.json", "dist/tf-backend-webgpu.node.js"],
  "@tensorflow/tfjs-layers": ["package.json", "dist/tf-layers.node.js"],
  "@tensorflow/tfjs-backend-wasm": [
    "package.json",
    "dist/tf-backend-wasm.node.js",
    "dist/tfjs-backend-wasm.wasm",
    "dist/tfjs-backend-wasm-simd.wasm",
    "dist/tfjs-backend-wasm-threaded-simd.wasm",
  ],
  webgpu: ["package.json", "index.js", `dist/linux-x64`],
};
/** Type-only dependencies: nothing to load at run time. */
const SKIP = (name) => name.startsWith("@types/") || name === "@webgpu/types";

function packageDir(name) {
  return path.join(root, "node_modules", name);
}

/** The packages `roots` load, following package.json dependencies. */
function closure(roots) {
  const seen = new Set();
  const todo = [...roots];
  while (todo.length) {
    const name = todo.pop();
    if (seen.has(name) || SKIP(name)) continue;
    const dir = packageDir(name);
    if (!existsSync(dir)) throw new Error(`${name} is not installed: run npm ci first`);
    seen.add(name);
    const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
    todo.push(...Object.keys(pkg.dependencies ?? {}));
  }
  return [...seen].sort();
}

rmSync(stageOnly >= 0 ? stage : out, { recursive: true, force: true });
mkdirSync(modules, { recursive: true });

console.log("compiling core/ and the benchmarks (tsc)...");
execFileSync(
  process.execPath,
  [
    path.join(root, "node_modules/typescript/bin/tsc"),
    "-p",
    "bench/gpu/tsconfig.json",
    "--outDir",
    app,
  ],
  { cwd: root, stdio: "inherit" },
);
// The compiled files are ES modules.
writeFileSync(path.join(app, "package.json"), '{ "type": "module" }\n');
// The PyTorch side of bench/speed.bench.ts, found next to it.
cpSync(path.join(root, "bench/torch_speed.py"), path.join(app, "bench/torch_speed.py"));
// The torch engine: its Python package, and the embedded dataset its mlp/cnn rows train on.
cpSync(path.join(root, "python/sgd_studio_torch"), path.join(app, "python/sgd_studio_torch"), {
  recursive: true,
  filter: (f) => !f.includes("__pycache__"),
});
cpSync(
  path.join(root, "assets/fashion-mnist-12k.sgdds.gz"),
  path.join(app, "assets/fashion-mnist-12k.sgdds.gz"),
);

const roots = [
  "@tensorflow/tfjs-core",
  "@tensorflow/tfjs-backend-cpu",
  "@tensorflow/tfjs-backend-wasm",
  "@tensorflow/tfjs-backend-webgpu",
  "@tensorflow/tfjs-layers",
  "webgpu",
  "zod",
];
for (const name of closure(roots)) {
  const from = packageDir(name);
  const to = path.join(modules, name);
  for (const rel of KEEP[name] ?? ["."]) {
    cpSync(path.join(from, rel), path.join(to, rel), { recursive: true });
  }
  console.log(`  ${name}`);
}
cpSync(process.execPath, path.join(stage, "node"));
// Dawn loads the Vulkan loader; a bare GPU image may not have one
// (run.sh puts this copy on LD_LIBRARY_PATH only then).
const loader = "/usr/lib/x86_64-linux-gnu/libvulkan.so.1";
if (existsSync(loader))
  cpSync(loader, path.join(stage, "lib/libvulkan.so.1"), { dereference: true });
else console.warn(`no ${loader} here: the GPU machine must have its own Vulkan loader`);

if (stageOnly >= 0) {
  console.log(`bundle laid out in ${stage}`);
  process.exit(0);
}
const archive = path.join(out, "bundle.tar.xz");
console.log("compressing (xz)...");
execFileSync("tar", ["-cJf", archive, "-C", stage, "."], { stdio: "inherit" });
rmSync(stage, { recursive: true, force: true });
const mib = statSync(archive).size / 2 ** 20;
console.log(`${path.relative(root, archive)}: ${mib.toFixed(1)} MiB (node ${process.version})`);
if (mib > 60) {
  console.error("too big to carry to the device machine (64 MiB with the working tree)");
  process.exit(1);
}
