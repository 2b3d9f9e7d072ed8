import { describe, expect, it } from "vitest";
import {
  compareVersions,
  emptySystem,
  findLibraries,
  listVulkanIcds,
  missingLibraryFromError,
  parseLdconfig,
  parseNvidiaSmiCudaVersion,
  parseNvidiaSmiQuery,
  parseTensorFlowLog,
  queryNvidia,
} from "./system.js";

const fakeSystem = emptySystem;

const SMI_HEADER = `+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+`;

describe("nvidia-smi parsing", () => {
  it("reads GPUs from the CSV query", () => {
    const gpus = parseNvidiaSmiQuery(
      "NVIDIA H200, 550.54.15, 143771, 9.0\nNVIDIA GeForce RTX 3090, 535.104.05, 24576, 8.6\n",
    );
    expect(gpus).toEqual([
      {
        name: "NVIDIA H200",
        driverVersion: "550.54.15",
        memoryMiB: 143771,
        computeCapability: "9.0",
      },
      {
        name: "NVIDIA GeForce RTX 3090",
        driverVersion: "535.104.05",
        memoryMiB: 24576,
        computeCapability: "8.6",
      },
    ]);
  });
  it("tolerates missing columns and blank lines", () => {
    expect(parseNvidiaSmiQuery("\nTesla T4, 470.82.01, 15109\n")).toEqual([
      { name: "Tesla T4", driverVersion: "470.82.01", memoryMiB: 15109 },
    ]);
  });
  it("reads the driver's CUDA version from the header", () => {
    expect(parseNvidiaSmiCudaVersion(SMI_HEADER)).toBe("12.4");
    expect(parseNvidiaSmiCudaVersion("no header")).toBeUndefined();
  });
  it("reports a missing nvidia-smi as 'no driver'", async () => {
    const info = await queryNvidia(fakeSystem());
    expect(info.present).toBe(false);
    expect(info.error).toMatch(/nvidia-smi not found/);
  });
  it("falls back to the query without compute_cap for old drivers", async () => {
    const calls: string[][] = [];
    const sys = fakeSystem({
      run: async (_cmd, args) => {
        calls.push(args);
        if (args.some((a) => a.includes("compute_cap"))) {
          return {
            code: 2,
            stdout: 'Field "compute_cap" is not a valid field to query.',
            stderr: "",
          };
        }
        if (args.length === 0) return { code: 0, stdout: SMI_HEADER, stderr: "" };
        return { code: 0, stdout: "Tesla V100-SXM2-16GB, 450.80.02, 16160\n", stderr: "" };
      },
    });
    const info = await queryNvidia(sys);
    expect(calls).toHaveLength(3);
    expect(info).toEqual({
      present: true,
      gpus: [{ name: "Tesla V100-SXM2-16GB", driverVersion: "450.80.02", memoryMiB: 16160 }],
      driverCudaVersion: "12.4",
    });
  });
});

describe("versions", () => {
  it("compares dotted versions numerically", () => {
    expect(compareVersions("450.80.02", "450.80.02")).toBe(0);
    expect(compareVersions("418.67", "450.80.02")).toBeLessThan(0);
    expect(compareVersions("550.54.15", "450.80.02")).toBeGreaterThan(0);
    expect(compareVersions("9.0", "10.0")).toBeLessThan(0);
  });
});

describe("shared libraries", () => {
  const LDCONFIG = `1234 libs found in cache \`/etc/ld.so.cache'
\tlibcudnn.so.8 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.8
\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda-12/lib64/libcudart.so.12
\tlibvulkan.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libvulkan.so.1
`;
  it("parses ldconfig -p", () => {
    const m = parseLdconfig(LDCONFIG);
    expect(m.get("libcudnn.so.8")).toEqual(["/usr/lib/x86_64-linux-gnu/libcudnn.so.8"]);
    expect(m.has("libcudart.so.11.0")).toBe(false);
    expect(m.size).toBe(3);
  });
  it("finds libraries in LD_LIBRARY_PATH first, then the cache; a CUDA 12 runtime does not count", async () => {
    const sys = fakeSystem({
      env: { LD_LIBRARY_PATH: "/opt/cuda-11.2/lib64:/nope" },
      exists: (f) => f === "/opt/cuda-11.2/lib64/libcublas.so.11",
      run: async () => ({ code: 0, stdout: LDCONFIG, stderr: "" }),
    });
    const scan = await findLibraries(sys, [
      "libcublas.so.11",
      "libcudnn.so.8",
      "libcudart.so.11.0",
    ]);
    expect(scan.found).toEqual({
      "libcublas.so.11": "/opt/cuda-11.2/lib64/libcublas.so.11",
      "libcudnn.so.8": "/usr/lib/x86_64-linux-gnu/libcudnn.so.8",
    });
    expect(scan.missing).toEqual(["libcudart.so.11.0"]);
  });
  it("names the library a failed dlopen was missing", () => {
    expect(
      missingLibraryFromError(
        "Error: libtensorflow.so.2: cannot open shared object file: No such file or directory",
      ),
    ).toBe("libtensorflow.so.2");
    expect(
      missingLibraryFromError(
        "Error: libcudnn.so.8: cannot open shared object file: No such file or directory\n    at Module._extensions..node",
      ),
    ).toBe("libcudnn.so.8");
    expect(
      missingLibraryFromError("dlopen(x.node): Library not loaded: @rpath/libtensorflow.2.dylib"),
    ).toBe("libtensorflow.2.dylib");
    expect(missingLibraryFromError("Error: something else")).toBeUndefined();
  });
});

describe("TensorFlow's log", () => {
  const NO_CUDA = `2026-01-01 12:00:00.000000: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory; LD_LIBRARY_PATH: /usr/local/lib
2026-01-01 12:00:00.000000: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory; LD_LIBRARY_PATH: /usr/local/lib
2026-01-01 12:00:00.000000: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory
2026-01-01 12:00:00.000000: W tensorflow/core/common_runtime/gpu/gpu_device.cc:1850] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to use GPU. Follow the guide at https://www.tensorflow.org/install/gpu for how to download and setup the required libraries for your platform.
Skipping registering GPU devices...`;
  const GPU_OK = `2026-01-01 12:00:01.000000: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1616] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 139264 MB memory:  -> device: 0, name: NVIDIA H200, pci bus id: 0000:19:00.0, compute capability: 9.0`;
  const GPU_OLD = `I tensorflow/core/common_runtime/gpu/gpu_device.cc:1304] Created TensorFlow device (/job:localhost/replica:0/task:0/device:GPU:0 with 10813 MB memory) -> physical GPU (device: 0, name: GeForce GTX 1080 Ti, pci bus id: 0000:01:00.0, compute capability: 6.1)`;

  it("lists libraries TensorFlow could not load (once each) and the skip", () => {
    const log = parseTensorFlowLog(NO_CUDA);
    expect(log.missingLibraries.map((l) => l.name)).toEqual(["libcudart.so.11.0", "libcudnn.so.8"]);
    expect(log.missingLibraries[0]?.error).toBe(
      "libcudart.so.11.0: cannot open shared object file: No such file or directory",
    );
    expect(log.gpuDevices).toEqual([]);
    expect(log.skippedGpu).toBe(true);
  });
  it("reads created GPU devices (TF 2.5+ and older formats)", () => {
    expect(parseTensorFlowLog(GPU_OK).gpuDevices).toEqual([
      { index: 0, name: "NVIDIA H200", memoryMB: 139264, computeCapability: "9.0" },
    ]);
    expect(parseTensorFlowLog(GPU_OLD).gpuDevices).toEqual([
      { index: 0, name: "GeForce GTX 1080 Ti", memoryMB: 10813, computeCapability: "6.1" },
    ]);
  });
});

describe("Vulkan ICDs", () => {
  it("uses VK_ICD_FILENAMES when set", () => {
    expect(listVulkanIcds(fakeSystem({ env: { VK_ICD_FILENAMES: "/a.json:/b.json" } }))).toEqual([
      "/a.json",
      "/b.json",
    ]);
  });
  it("scans the standard icd.d directories", () => {
    const sys = fakeSystem({
      list: (d) =>
        d === "/usr/share/vulkan/icd.d"
          ? ["lvp_icd.json", "README"]
          : d === "/etc/vulkan/icd.d"
            ? ["nvidia_icd.json"]
            : [],
    });
    expect(listVulkanIcds(sys)).toEqual([
      "/usr/share/vulkan/icd.d/lvp_icd.json",
      "/etc/vulkan/icd.d/nvidia_icd.json",
    ]);
  });
});
