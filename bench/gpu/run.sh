#!/usr/bin/env bash
# The training-speed measurements of issue 9, as one script for a GPU machine
# that has no node (the device machine). Prepare here:
#   node bench/gpu/pack.mjs   -> .gpu/bundle.tar.xz (node, compiled benches, Vulkan loader)
# then run there with carry [".gpu"]:
#   bash bench/gpu/run.sh
# Everything it prints also goes to $OUT (the device tool brings that back).
# QUICK=1 runs small sizes (a check of the script itself, on lavapipe here).
set -u
OUT=${OUT:-/tmp/sgd-gpu-out}
mkdir -p "$OUT"
LOG="$OUT/run.log"
exec > >(tee -a "$LOG") 2>&1
here=$(cd "$(dirname "$0")/../.." && pwd)
bundle=${BUNDLE_DIR:-/tmp/sgd-bundle}

echo "== $(date -u +%FT%TZ) $(hostname)"
if [ "${PREPACKED:-0}" != 1 ]; then # PREPACKED=1: BUNDLE_DIR was laid out by pack.mjs --stage-only
  rm -rf "$bundle" && mkdir -p "$bundle"
  tar -xJf "$here/.gpu/bundle.tar.xz" -C "$bundle" || { echo "no bundle: run node bench/gpu/pack.mjs first"; exit 2; }
fi
node="$bundle/node"
app="$bundle/app"
"$node" --version

# Dawn needs the Vulkan loader; the device image may lack it: use the bundle's.
if ! ldconfig -p | grep -q libvulkan.so.1; then
  export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "no system Vulkan loader: using the bundle's"
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv

if [ "${QUICK:-0}" = 1 ]; then
  batch=16 steps=3 warmup=1 models=mlp,cnn torch=cpu pbatch=8 pmodel=cnn
else
  batch=128 steps=20 warmup=3 models=mlp,cnn,resnet18 torch=cuda pbatch=128 pmodel=resnet18
fi

# The device tool stops a command after 600 s: keep the whole script inside
# BUDGET_S, cutting the last runs short (or skipping them) if need be.
budget=${BUDGET_S:-560}
run() { # name, timeout seconds, command...
  local name=$1 limit=$2
  shift 2
  local left=$((budget - SECONDS))
  if [ "$left" -lt 20 ]; then
    echo "== $name: skipped, ${left} s left of the ${budget} s budget"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (at most ${limit} s)"
  local t0=$SECONDS
  # stdout (the table and the JSON line) to $OUT/NAME.txt, stderr to the log:
  # the device tool brings back at most 8 files.
  timeout "$limit" "$@" > "$OUT/$name.txt" 2> >(grep -v "^Warning: max" >&2)
  local rc=$?
  grep -v "^{" "$OUT/$name.txt" # the JSON line stays in the file
  echo "   ($name: rc $rc, $((SECONDS - t0)) s)"
}

# 1. img/s of every model on WebGPU, and PyTorch on the same GPU (the ratio).
run speed 200 "$node" "$app/bench/speed.bench.js" --models "$models" --backends webgpu \
  --batch "$batch" --steps "$steps" --warmup "$warmup" --torch "$torch" --engine off --max-seconds 30 --json
# 1b. The torch engine (backend torch, through the real training worker) against the
# bare PyTorch loop, fp32 and bf16 + channels-last, and WebGPU: ResNet-18 at batch 128 and 512.
if [ "${QUICK:-0}" = 1 ]; then
  run engine 120 "$node" "$app/bench/speed.bench.js" --models mlp --backends wasm --batch 16 \
    --steps 20 --warmup 1 --torch cpu --precisions fp32 --engine-models mlp --max-seconds 10 --json
else
  for b in 128 512; do
    run "engine-$b" 110 "$node" "$app/bench/speed.bench.js" --models resnet18 --backends webgpu \
      --batch "$b" --steps 20 --warmup 3 --torch cuda --precisions fp32,bf16-cl \
      --engine-models resnet18 --max-seconds 15 --json
  done
fi
# 2. Where a ResNet-18 step's GPU time goes, per kernel.
run profile 100 "$node" "$app/bench/kernel-profile.bench.js" --backend webgpu --model "$pmodel" \
  --batch "$pbatch" --top 30 --json
# 3. A/B runs of the ResNet-18 step, one setting changed each (compare with speed.txt):
ab() { # name, environment assignment
  run "$1" 75 env "$2" "$node" "$app/bench/speed.bench.js" --models "$pmodel" --backends webgpu \
    --batch "$batch" --steps "$steps" --warmup "$warmup" --torch off --max-seconds 20 --json
}
ab ab-no-fused-bn SGD_STUDIO_FUSED_BATCH_NORM=0              # tfjs-layers' own batch norm
ab ab-filter-split-1 SGD_STUDIO_WEBGPU_FILTER_SPLIT=1        # no split of the dW reduction
ab ab-submit-64 SGD_STUDIO_TFJS_FLAGS=WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64 # fewer queue submits (tfjs: 15)
ab ab-conv-transpose-mm SGD_STUDIO_TFJS_FLAGS=WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE=false # matmul dx
echo "== done in ${SECONDS} s; files in $OUT"
