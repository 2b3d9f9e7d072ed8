/** The `sgd-studio` command line: a thin host over core. */
import { Command, CommanderError } from "commander";
import { ScheduleError } from "../core/schedule/index.js";
import { registerDoctorCommand } from "./commands/doctor.js";
import { registerLandscapeCommand } from "./commands/landscape.js";
import { registerRunsCommands } from "./commands/runs.js";
import { registerScheduleCommands } from "./commands/schedule.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerSharpnessCommand } from "./commands/sharpness.js";
import { registerSweepCommands } from "./commands/sweep.js";
import { registerTrainCommand } from "./commands/train.js";
import { registerWorkerCommands } from "./commands/worker.js";
import { CliError, type Io, processIo } from "./io.js";

export function buildProgram(io: Io): Command {
  const program = new Command("sgd-studio")
    .description(
      "SGD Studio: design learning-rate and batch-size schedules and see the smoothing they imply",
    )
    .version("0.1.0")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError();
  registerScheduleCommands(program, io);
  registerTrainCommand(program, io, io === processIo && process.stdout.isTTY === true);
  registerDoctorCommand(program, io);
  registerRunsCommands(program, io);
  registerServeCommand(program, io);
  registerLandscapeCommand(program, io);
  registerSharpnessCommand(program, io, io === processIo && process.stderr.isTTY === true);
  registerSweepCommands(program, io, io === processIo && process.stdout.isTTY === true);
  registerWorkerCommands(program, io);
  for (const cmd of program.commands) {
    cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    for (const sub of cmd.commands)
      sub.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  }
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  try {
    await buildProgram(io).parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ScheduleError || err instanceof CliError) {
      io.err(`error: ${err.message}\n`);
      return err instanceof CliError ? err.exitCode : 1;
    }
    io.err(`error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
