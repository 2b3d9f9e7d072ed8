/**
 * Optimizers with PyTorch's update rules, written over tfjs variables so the
 * LR can change at every step without rebuilding anything and the state can
 * be saved in checkpoints.
 *
 * - sgd: p -= lr * g                             (the paper's default: no momentum, no weight decay)
 * - momentum: buf = mu * buf + g; p -= lr * buf  (torch.optim.SGD, dampening 0)
 * - nesterov: buf as above; p -= lr * (g + mu * buf)
 * - adam: torch.optim.Adam (bias-corrected moments)
 * - adamw: decoupled weight decay p *= 1 - lr * wd, then adam
 * Weight decay for sgd/momentum/nesterov/adam is L2 added to the gradient (as torch does).
 */
import * as tf from "@tensorflow/tfjs-core";
import { OptimizerSchema, type OptimizerSpec } from "../api/spec.js";
import { axpby } from "./kernels/fused-update.js";

/** The spec's schema is declared in core/api/spec.ts (no TensorFlow.js there). */
export { OptimizerSchema, type OptimizerSpec };

export interface OptimizerState {
  kind: OptimizerSpec["kind"];
  step: number;
  /** Slot name -> one flat array per variable (momentum buffers, Adam moments). */
  slots: Record<string, Float32Array[]>;
}

export class Optimizer {
  readonly spec: OptimizerSpec;
  private step = 0;
  private readonly slots = new Map<string, tf.Variable[]>();

  constructor(
    spec: Partial<OptimizerSpec> & { kind: OptimizerSpec["kind"] },
    private readonly variables: readonly tf.Variable[],
  ) {
    this.spec = OptimizerSchema.parse(spec);
    const names = this.slotNames();
    for (const name of names) {
      this.slots.set(
        name,
        variables.map((v) => tf.variable(tf.zerosLike(v), false, `${v.name}/${name}`)),
      );
    }
  }

  private slotNames(): string[] {
    switch (this.spec.kind) {
      case "sgd":
        return [];
      case "momentum":
      case "nesterov":
        return ["buf"];
      case "adam":
      case "adamw":
        return ["m", "v"];
    }
  }

  private get momentum(): number {
    return this.spec.momentum ?? 0.9;
  }

  private get weightDecay(): number {
    return this.spec.weightDecay ?? (this.spec.kind === "adamw" ? 0.01 : 0);
  }

  /** Applies one update with learning rate lr. `grads[i]` belongs to `variables[i]`. */
  apply(grads: readonly tf.Tensor[], lr: number): void {
    this.step++;
    const { kind, beta1, beta2, eps } = this.spec;
    const wd = this.weightDecay;
    const mu = this.momentum;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    // axpby: one fused kernel per update where the backend has it (on a GPU
    // each kernel costs host time, and a JS number operand a scalar upload).
    tf.tidy(() => {
      this.variables.forEach((p, i) => {
        let g = grads[i] as tf.Tensor;
        if (wd > 0 && kind !== "adamw") g = axpby(g, p, 1, wd);
        switch (kind) {
          case "sgd":
            p.assign(axpby(p, g, 1, -lr));
            break;
          case "momentum":
          case "nesterov": {
            const buf = this.slot("buf", i);
            const next = axpby(buf, g, mu, 1);
            buf.assign(next);
            const dir = kind === "nesterov" ? axpby(g, next, 1, mu) : next;
            p.assign(axpby(p, dir, 1, -lr));
            break;
          }
          case "adam":
          case "adamw": {
            const m = this.slot("m", i);
            const v = this.slot("v", i);
            const m1 = axpby(m, g, beta1, 1 - beta1);
            const v1 = axpby(v, tf.square(g), beta2, 1 - beta2);
            m.assign(m1);
            v.assign(v1);
            const base = kind === "adamw" && wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
            const denom = tf.add(tf.sqrt(tf.div(v1, bc2)), eps);
            p.assign(tf.sub(base, tf.mul(tf.div(m1, denom), lr / bc1)));
            break;
          }
        }
      });
    });
  }

  private slot(name: string, i: number): tf.Variable {
    return this.slots.get(name)?.[i] as tf.Variable;
  }

  async getState(): Promise<OptimizerState> {
    const slots: Record<string, Float32Array[]> = {};
    for (const [name, vars] of this.slots) {
      slots[name] = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
    }
    return { kind: this.spec.kind, step: this.step, slots };
  }

  setState(state: OptimizerState): void {
    if (state.kind !== this.spec.kind) {
      throw new Error(
        `checkpoint holds ${state.kind} optimizer state, but this run uses ${this.spec.kind}`,
      );
    }
    this.step = state.step;
    for (const [name, vars] of this.slots) {
      const values = state.slots[name];
      if (!values || values.length !== vars.length) {
        throw new Error(`checkpoint optimizer state is missing slot ${name}`);
      }
      for (const [i, v] of vars.entries()) {
        v.assign(tf.tensor(values[i] as Float32Array, v.shape, "float32"));
      }
    }
  }

  dispose(): void {
    for (const vars of this.slots.values()) for (const v of vars) v.dispose();
    this.slots.clear();
  }
}
