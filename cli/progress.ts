/** One-line progress display for a terminal: bar, epoch, metrics, throughput and ETA. */
import type { TrainEvent } from "../core/engine/events.js";
import { num } from "./format.js";

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m > 0
      ? `${m}m${String(sec).padStart(2, "0")}s`
      : `${sec}s`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

export function bar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
}

/** Turns events into the lines a person watching a terminal wants. */
export class ProgressView {
  private totalSteps = 0;
  private epochs = 0;
  private firstStep: number | null = null;
  private started = 0;

  constructor(
    private readonly write: (text: string) => void,
    private readonly interactive: boolean,
  ) {}

  handle(e: TrainEvent): void {
    switch (e.type) {
      case "start":
        this.totalSteps = e.steps;
        this.epochs = e.epochs;
        this.write(
          `${e.backendSummary}\n${e.model.name} (${e.model.parameters.toLocaleString("en")} parameters) on ${e.dataset.name}: ${e.dataset.train} train / ${e.dataset.test} test images\n` +
            `${e.epochs} epochs, ${e.steps} steps${e.startEpoch > 0 ? `, resuming at epoch ${e.startEpoch}` : ""}\n` +
            e.warnings.map((w) => `warning: ${w}\n`).join(""),
        );
        break;
      case "step": {
        if (this.firstStep === null) {
          this.firstStep = e.step;
          this.started = performance.now();
        }
        if (!this.interactive) return;
        const done = e.step + 1;
        const rate = (done - this.firstStep) / ((performance.now() - this.started) / 1000);
        const eta = (this.totalSteps - done) / rate;
        const line = `${bar(done / this.totalSteps)} ${Math.floor((100 * done) / this.totalSteps)}% epoch ${e.epoch + 1}/${this.epochs} step ${done}/${this.totalSteps} loss ${e.loss.toFixed(4)} lr ${num(e.lr)} batch ${e.batchSize} delta ${e.delta.toPrecision(3)} ${Math.round(e.throughput)} img/s ETA ${formatDuration(eta)}`;
        this.write(`\r${line}\x1b[K`);
        break;
      }
      case "epoch":
        this.write(
          `${this.interactive ? "\r\x1b[K" : ""}epoch ${e.epoch + 1}/${this.epochs}: train loss ${e.trainLoss.toFixed(4)} acc ${pct(e.trainAccuracy)} | test loss ${e.testLoss.toFixed(4)} acc ${pct(e.testAccuracy)} | ${formatDuration(e.wallTime)}${e.noiseC === null ? "" : ` | C ~ ${e.noiseC.toPrecision(3)}`}\n`,
        );
        break;
      case "sharpness":
        if (e.error) this.write(`${this.interactive ? "\r\x1b[K" : ""}${e.error}\n`);
        else if (e.values)
          this.write(
            `${this.interactive ? "\r\x1b[K" : ""}sharpness after epoch ${e.epoch + 1}: ${e.values.map((v) => `${v.key} ${v.value.toPrecision(4)}`).join(", ")} (${e.values[0]?.examples} examples${e.seconds === undefined ? "" : `, ${formatDuration(e.seconds)}`})\n`,
          );
        else if (this.interactive && e.total > 0)
          this.write(`\r${bar(e.done / e.total)} sharpness ${e.done}/${e.total} passes\x1b[K`);
        break;
      case "stopping":
        this.write(`${this.interactive ? "\r\x1b[K" : ""}stopping after the current step...\n`);
        break;
      case "summary":
        this.write(
          `${e.status}: ${e.steps} steps in ${formatDuration(e.wallTime)}, test accuracy ${e.testAccuracy === null ? "-" : pct(e.testAccuracy)} (best ${e.bestTestAccuracy === null ? "-" : `${pct(e.bestTestAccuracy)} at epoch ${(e.bestEpoch ?? 0) + 1}`})${e.checkpoint ? `\ncheckpoint: ${e.checkpoint}` : ""}\n`,
        );
        break;
      default:
        break;
    }
  }
}
