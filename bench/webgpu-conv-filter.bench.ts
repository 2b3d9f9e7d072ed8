/**
 * Conv2DBackpropFilter on webgpu: tfjs-backend-webgpu's own kernel against
 * ours (core/engine/kernels/webgpu-conv2d-backprop-filter.ts: im2col patch
 * matrix + one matmul), for ResNet-18-like layer shapes scaled down for
 * lavapipe (WebGPU on the CPU). Each figure is the median over --runs calls,
 * each synchronised by `await data()`, after --warmup calls; the results of
 * the two kernels are also compared (max abs diff / max abs value).
 *
 * Run: XDG_RUNTIME_DIR=/tmp npx tsx bench/webgpu-conv-filter.bench.ts
 *        [--batch 8] [--runs 5] [--warmup 1] [--scale 1] [--json]
 * (--scale 4 multiplies the spatial size by 4: real ResNet-18 shapes at
 * 224x224 input, for a real GPU.)
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../core/engine/backends.js";
import { nativeWasmKernel } from "../core/engine/kernels/wasm-util.js";
import { webgpuConv2DBackpropFilterConfig } from "../core/engine/kernels/webgpu-conv2d-backprop-filter.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const batch = Number(arg("batch", "8"));
const runs = Number(arg("runs", "5"));
const warmup = Number(arg("warmup", "1"));
const scale = Number(arg("scale", "1"));
const json = process.argv.includes("--json");

interface Shape {
  name: string;
  /** input height = width, channels in, channels out, filter size, stride, padding */
  hw: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: "same" | "valid";
}

const SHAPES: Shape[] = [
  { name: "stage1 3x3", hw: 32, cin: 64, cout: 64, k: 3, stride: 1, pad: "same" },
  { name: "stage2 3x3 s2", hw: 32, cin: 64, cout: 128, k: 3, stride: 2, pad: "same" },
  { name: "stage2 1x1 s2", hw: 32, cin: 64, cout: 128, k: 1, stride: 2, pad: "valid" },
  { name: "stage2 3x3", hw: 16, cin: 128, cout: 128, k: 3, stride: 1, pad: "same" },
  { name: "stage3 3x3", hw: 8, cin: 256, cout: 256, k: 3, stride: 1, pad: "same" },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

function run(x: tf.Tensor4D, dy: tf.Tensor4D, s: Shape): tf.Tensor {
  return tf.engine().runKernel(
    "Conv2DBackpropFilter",
    { x, dy } as unknown as tf.NamedTensorMap,
    {
      strides: s.stride,
      pad: s.pad,
      dataFormat: "NHWC",
      filterShape: [s.k, s.k, s.cin, s.cout],
    } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor;
}

/** Runs with the given kernel registered for webgpu; median ms and the last result. */
async function time(
  kernel: tf.KernelConfig,
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  s: Shape,
): Promise<{ ms: number; values: Float32Array }> {
  tf.unregisterKernel("Conv2DBackpropFilter", "webgpu");
  tf.registerKernel(kernel);
  const ms: number[] = [];
  let values = new Float32Array(0);
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = performance.now();
    const dw = run(x, dy, s);
    values = Float32Array.from((await dw.data()) as Float32Array);
    const t1 = performance.now();
    dw.dispose();
    if (i >= warmup) ms.push(t1 - t0);
  }
  return { ms: median(ms), values };
}

function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    max = Math.max(max, Math.abs(b[i] as number));
  }
  return max === 0 ? diff : diff / max;
}

async function main(): Promise<void> {
  const sel = await selectBackend("webgpu");
  const ours = tf.getKernel("Conv2DBackpropFilter", "webgpu");
  const native = nativeWasmKernel("Conv2DBackpropFilter");
  if (ours?.kernelFunc !== webgpuConv2DBackpropFilterConfig.kernelFunc || !native) {
    throw new Error("the webgpu Conv2DBackpropFilter override is not registered");
  }
  const rows: Record<string, unknown>[] = [];
  if (!json) {
    console.log(`${sel.summary}; batch ${batch}, median of ${runs} (+${warmup} warm-up)`);
    console.log(
      "shape                          x shape          tfjs ms    ours ms   speed-up  rel.err",
    );
  }
  try {
    for (const s of SHAPES) {
      const hw = s.hw * scale;
      const x = tf.randomUniform([batch, hw, hw, s.cin], -1, 1, "float32", 1) as tf.Tensor4D;
      const out =
        s.pad === "same" ? Math.ceil(hw / s.stride) : Math.ceil((hw - s.k + 1) / s.stride);
      const dy = tf.randomUniform([batch, out, out, s.cout], -1, 1, "float32", 2) as tf.Tensor4D;
      const theirs = await time(native, x, dy, s);
      const mine = await time(ours, x, dy, s);
      tf.dispose([x, dy]);
      const row = {
        shape: `${s.name} ${s.cin}->${s.cout}`,
        x: [batch, hw, hw, s.cin],
        tfjsMs: theirs.ms,
        oursMs: mine.ms,
        speedup: theirs.ms / mine.ms,
        relError: relError(mine.values, theirs.values),
      };
      rows.push(row);
      if (!json) {
        console.log(
          `${row.shape.padEnd(30)} ${JSON.stringify(row.x).padEnd(16)} ${row.tfjsMs.toFixed(1).padStart(8)} ${row.oursMs.toFixed(1).padStart(10)} ${`${row.speedup.toFixed(2)}x`.padStart(10)}  ${row.relError.toExponential(1)}`,
        );
      }
    }
  } finally {
    tf.unregisterKernel("Conv2DBackpropFilter", "webgpu");
    tf.registerKernel(ours);
  }
  if (json) console.log(JSON.stringify({ batch, runs, warmup, scale, rows }, null, 2));
}

await main();
