/** `sgd-studio doctor`: which training backends work here, why the others do not, and how to fix them. */
import type { Command } from "commander";
import { formatDoctorText } from "../doctor-text.js";
import type { Io } from "../io.js";

export function registerDoctorCommand(program: Command, io: Io): void {
  program
    .command("doctor")
    .description("report the training backends: which load, why others do not, and fixes")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      // Loaded here, not at the top: probing backends loads TensorFlow.js, which no other command needs.
      const { doctorReport } = await import("../../core/engine/backends.js");
      const { json } = await doctorReport();
      io.out(
        opts.json ? `${JSON.stringify(json, null, 2)}\n` : `${formatDoctorText(json).trimEnd()}\n`,
      );
    });
}
