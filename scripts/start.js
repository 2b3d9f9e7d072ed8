#!/usr/bin/env node
// `npm start`. The desktop app (Electron + Svelte) is not built yet; until it is,
// this shows what works today: the schedule engine through the CLI.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

if (!existsSync(new URL("../dist/cli/main.js", import.meta.url))) {
  const build = spawnSync("npm", ["run", "build"], { stdio: "inherit" });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

console.log(
  [
    "SGD Studio: the desktop app is not built yet (see README, 'What works today').",
    "Today the CLI works. Showing the paper's hybrid schedule (LR decay + batch growth):",
    "  npx sgd-studio schedule preview paper-hybrid",
    "",
  ].join("\n"),
);
const { main } = await import("../dist/cli/main.js");
process.exitCode = await main(["schedule", "preview", "paper-hybrid"]);
console.log(
  [
    "",
    "Train with it on the embedded Fashion-MNIST subset (no download):",
    "  npx sgd-studio train --model mlp --schedule paper-hybrid --epochs 5",
    "More: npx sgd-studio schedule presets | schedule export <file|preset> --to pytorch | doctor | --help",
  ].join("\n"),
);
