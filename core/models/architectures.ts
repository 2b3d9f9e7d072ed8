/**
 * The architectures, written once against NetBuilder (see builder.ts).
 * Every model ends in a linear layer: outputs are logits (apply softmax
 * cross-entropy to them in the training loop).
 */
import type { NetBuilder } from "./builder.js";

export interface ArchOptions {
  inputShape: number[];
  numClasses: number;
}

/**
 * MLP 784-256-128-10: flatten, Dense 256 + ReLU, Dense 128 + ReLU, Dense
 * numClasses. 235,146 parameters for 28x28x1 input and 10 classes.
 */
export function mlp<T>(b: NetBuilder<T>, o: ArchOptions): T {
  let x = b.input(o.inputShape, "input");
  x = b.flatten(x, "flatten");
  x = b.dense(x, { units: 256, activation: "relu", name: "fc1" });
  x = b.dense(x, { units: 128, activation: "relu", name: "fc2" });
  return b.dense(x, { units: o.numClasses, name: "logits", init: "glorot" });
}

/**
 * Small CNN: [conv3x3 32 - BN - ReLU - maxpool 2] - [conv3x3 64 - BN - ReLU -
 * maxpool 2] - flatten - Dense 128 + ReLU - (dropout) - Dense numClasses.
 * 421,738 trainable parameters for 28x28x1 input and 10 classes.
 */
export function cnn<T>(b: NetBuilder<T>, o: ArchOptions & { dropout?: number }): T {
  let x = b.input(o.inputShape, "input");
  x = b.conv(x, { filters: 32, kernel: 3, name: "conv1" });
  x = b.batchNorm(x, "bn1");
  x = b.relu(x, "relu1");
  x = b.maxPool(x, 2, "pool1");
  x = b.conv(x, { filters: 64, kernel: 3, name: "conv2" });
  x = b.batchNorm(x, "bn2");
  x = b.relu(x, "relu2");
  x = b.maxPool(x, 2, "pool2");
  x = b.flatten(x, "flatten");
  x = b.dense(x, { units: 128, activation: "relu", name: "fc1" });
  if (o.dropout && o.dropout > 0) x = b.dropout(x, o.dropout, "dropout");
  return b.dense(x, { units: o.numClasses, name: "logits", init: "glorot" });
}

/**
 * ResNet-18, CIFAR variant (He et al. 2016 BasicBlocks; kuangliu/pytorch-cifar
 * layout): 3x3 stem conv 64 + BN + ReLU, no max pool; stages of [2, 2, 2, 2]
 * BasicBlocks with 64/128/256/512 channels, stride 2 at the first block of
 * stages 2-4, 1x1 conv + BN shortcut where the shape changes; global average
 * pool; Dense numClasses. 11,173,962 trainable parameters for 10 classes.
 */
export function resnet18<T>(b: NetBuilder<T>, o: ArchOptions): T {
  let x = b.input(o.inputShape, "input");
  x = b.conv(x, { filters: 64, kernel: 3, name: "stem_conv" });
  x = b.batchNorm(x, "stem_bn");
  x = b.relu(x, "stem_relu");
  let inC = 64;
  const widths = [64, 128, 256, 512];
  widths.forEach((width, s) => {
    for (let i = 0; i < 2; i++) {
      const stride = s > 0 && i === 0 ? 2 : 1;
      const p = `layer${s + 1}_${i}`;
      let y = b.conv(x, { filters: width, kernel: 3, strides: stride, name: `${p}_conv1` });
      y = b.batchNorm(y, `${p}_bn1`);
      y = b.relu(y, `${p}_relu1`);
      y = b.conv(y, { filters: width, kernel: 3, name: `${p}_conv2` });
      y = b.batchNorm(y, `${p}_bn2`);
      let shortcut = x;
      if (stride !== 1 || inC !== width) {
        shortcut = b.conv(x, {
          filters: width,
          kernel: 1,
          strides: stride,
          name: `${p}_short_conv`,
        });
        shortcut = b.batchNorm(shortcut, `${p}_short_bn`);
      }
      x = b.relu(b.add(y, shortcut, `${p}_add`), `${p}_relu2`);
      inC = width;
    }
  });
  x = b.globalAvgPool(x, "gap");
  return b.dense(x, { units: o.numClasses, name: "logits", init: "glorot" });
}

export interface WrnOptions extends ArchOptions {
  depth: number;
  widen: number;
  /** Dropout between the two convs of a block (Zagoruyko & Komodakis); default 0. */
  dropout?: number;
}

/**
 * Wide ResNet WRN-depth-k (Zagoruyko & Komodakis 2016), pre-activation
 * blocks: stem conv3x3 16; three groups of n = (depth - 4) / 6 blocks with
 * 16k/32k/64k channels and strides 1/2/2; a block is BN-ReLU-conv3x3-BN-ReLU-
 * (dropout)-conv3x3, and where the shape changes the shortcut is a 1x1 conv
 * of the pre-activated input; then BN-ReLU, global average pool, Dense.
 * WRN-28-10: 36,479,194 parameters; WRN-16-4: 2,748,890 (10 classes).
 */
export function wideResnet<T>(b: NetBuilder<T>, o: WrnOptions): T {
  if ((o.depth - 4) % 6 !== 0) throw new Error(`WRN depth must be 6n+4, got ${o.depth}`);
  const n = (o.depth - 4) / 6;
  let x = b.input(o.inputShape, "input");
  x = b.conv(x, { filters: 16, kernel: 3, name: "stem_conv" });
  let inC = 16;
  const widths = [16 * o.widen, 32 * o.widen, 64 * o.widen];
  widths.forEach((width, g) => {
    for (let i = 0; i < n; i++) {
      const stride = g > 0 && i === 0 ? 2 : 1;
      const p = `group${g + 1}_${i}`;
      const pre = b.relu(b.batchNorm(x, `${p}_bn1`), `${p}_relu1`);
      const equal = inC === width && stride === 1;
      let y = b.conv(pre, { filters: width, kernel: 3, strides: stride, name: `${p}_conv1` });
      y = b.relu(b.batchNorm(y, `${p}_bn2`), `${p}_relu2`);
      if (o.dropout && o.dropout > 0) y = b.dropout(y, o.dropout, `${p}_dropout`);
      y = b.conv(y, { filters: width, kernel: 3, name: `${p}_conv2` });
      const shortcut = equal
        ? x
        : b.conv(pre, { filters: width, kernel: 1, strides: stride, name: `${p}_short_conv` });
      x = b.add(y, shortcut, `${p}_add`);
      inC = width;
    }
  });
  x = b.relu(b.batchNorm(x, "final_bn"), "final_relu");
  x = b.globalAvgPool(x, "gap");
  return b.dense(x, { units: o.numClasses, name: "logits", init: "glorot" });
}
