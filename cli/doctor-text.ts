/**
 * The human-readable form of a doctor report (`sgd-studio doctor`). Core
 * (`core/engine/backends.ts`) probes and returns the structured report; this
 * module only lays it out for a terminal.
 */
import type { BackendProbe, DoctorJson } from "../core/api/doctor.js";
import {
  TFJS_NODE_GPU_REQUIREMENTS as GPU_REQ,
  type LibraryScan,
  type NvidiaInfo,
} from "../core/engine/system.js";

function wrap(text: string, indent: string, width = 100): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line && indent.length + line.length + 1 + w.length > width) {
      lines.push(indent + line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** "4 threads (auto: 5 physical cores, one left for the host)" from the wasm probe. */
function wasmThreadsText(b: BackendProbe): string {
  const d = b.details;
  // Older reports said only whether threads were supported.
  const n = typeof d.threads === "number" ? d.threads : d.threads ? 2 : 1;
  const count = n === 1 ? "single thread" : `${n} threads`;
  const active =
    typeof d.threadsActive === "number" && d.threadsActive !== n
      ? `; ${d.threadsActive} in this process`
      : "";
  const why = typeof d.threadsWhy === "string" ? d.threadsWhy : "";
  return why || active ? `${count} (${why}${active})` : count;
}

function backendLine(b: BackendProbe): string {
  if (b.available) {
    const adapter = b.details.adapter as { description?: string; vendor?: string } | undefined;
    const gpus = b.details.gpuDevices as { name: string; memoryMB?: number }[] | undefined;
    if (adapter) return `yes  ${adapter.description || adapter.vendor || "adapter found"}`;
    if (gpus?.length) return `yes  ${gpus.map((g) => g.name).join(", ")}`;
    if (b.name === "wasm")
      return `yes  ${b.details.simd ? "SIMD" : "no SIMD"}, ${wasmThreadsText(b)}`;
    if (b.name === "cpu") return "yes  pure JavaScript (slow)";
    return "yes";
  }
  return `no   ${b.reason ?? ""}`;
}

/** The human-readable form of a doctor report. */
export function formatDoctorText(r: DoctorJson): string {
  const out: string[] = [];
  out.push("SGD Studio doctor");
  out.push(`Node ${r.node} ${r.platform}/${r.arch}, @tensorflow/tfjs-core ${r.tfjsCore}`);
  out.push("");
  out.push("Training backends, best first (available / why not):");
  r.backends.forEach((b, i) => {
    out.push(`  ${i + 1}. ${b.name.padEnd(16)}${backendLine(b)}`);
    if (b.available && b.reason) out.push(...wrap(`note: ${b.reason}`, " ".repeat(21)));
    if (b.available && typeof b.details.threadsNote === "string") {
      out.push(...wrap(`note: ${b.details.threadsNote}`, " ".repeat(21)));
    }
    if (b.available && b.name === "wasm" && b.details.threadSupport === true) {
      out.push(
        ...wrap(
          "threads: SGD_STUDIO_WASM_THREADS=N, `train --threads N` or the wasmThreads setting (at most 8)",
          " ".repeat(21),
        ),
      );
    }
    if (b.fix) out.push(...wrap(`fix: ${b.fix}`, " ".repeat(21)));
  });
  out.push("");
  out.push(
    r.recommended
      ? `Automatic selection would use: ${r.recommended}`
      : "Automatic selection found nothing usable (this should not happen: cpu is always there).",
  );
  if (r.activeBackend) out.push(`Active tfjs backend now: ${r.activeBackend}`);

  const gpuProbe = r.backends.find((b) => b.name === "tensorflow-gpu");
  const nvidia = gpuProbe?.details.nvidia as NvidiaInfo | undefined;
  const libs = gpuProbe?.details.cudaLibraries as LibraryScan | undefined;
  if (nvidia || libs) {
    out.push("");
    out.push("NVIDIA / CUDA:");
    if (nvidia?.present) {
      for (const g of nvidia.gpus) {
        out.push(
          `  GPU: ${g.name}, driver ${g.driverVersion}${g.memoryMiB ? `, ${g.memoryMiB} MiB` : ""}${g.computeCapability ? `, compute ${g.computeCapability}` : ""}`,
        );
      }
      if (nvidia.driverCudaVersion)
        out.push(`  Driver supports CUDA up to ${nvidia.driverCudaVersion}`);
    } else {
      out.push(`  ${nvidia?.error ?? "no NVIDIA GPU found"}`);
    }
    if (libs) {
      out.push(
        `  CUDA ${GPU_REQ.cuda} / cuDNN ${GPU_REQ.cudnn} libraries for tfjs-node-gpu: ${Object.keys(libs.found).length} of ${GPU_REQ.libraries.length} found${libs.missing.length ? `; missing ${libs.missing.join(", ")}` : ""}`,
      );
    }
  }
  const web = r.backends.find((b) => b.name === "webgpu");
  const adapter = web?.details.adapter as
    | {
        vendor: string;
        architecture: string;
        description: string;
        software: boolean;
        limits: Record<string, number>;
      }
    | undefined;
  if (adapter) {
    out.push("");
    out.push("WebGPU adapter:");
    out.push(
      `  ${adapter.vendor} ${adapter.architecture}: ${adapter.description}${adapter.software ? " (software)" : ""}`,
    );
    const maxBuf = adapter.limits.maxStorageBufferBindingSize;
    if (maxBuf) out.push(`  maxStorageBufferBindingSize ${(maxBuf / 2 ** 20).toFixed(0)} MiB`);
  } else if (web?.details.vulkanIcds) {
    out.push("");
    out.push(`Vulkan drivers (ICDs): ${(web.details.vulkanIcds as string[]).join(", ") || "none"}`);
  }
  out.push("");
  out.push("Kernel overrides (core/engine/kernels):");
  for (const o of r.kernelOverrides) {
    out.push(
      `  ${o.kernelName} (${o.kind}, ${o.backend === "*" ? "all backends" : o.backend}): ${o.status}`,
    );
    out.push(...wrap(o.why, "    "));
  }
  out.push("");
  out.push("Environment:");
  for (const [k, v] of Object.entries(r.env)) out.push(`  ${k}=${v ?? "(unset)"}`);
  return out.join("\n");
}
