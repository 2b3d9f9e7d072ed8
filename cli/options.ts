/** Option value parsers shared by the CLI commands: each names the flag and the rule it broke (exit code 2). */
import { CliError } from "./io.js";

export function wholeNumber(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new CliError(`${flag} must be a whole number >= ${min} (got "${value}")`, 2);
    }
    return n;
  };
}

export function positiveNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new CliError(`${flag} must be a number > 0 (got "${value}")`, 2);
    }
    return n;
  };
}

export function nonNegativeNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) {
      throw new CliError(`${flag} must be a number >= 0 (got "${value}")`, 2);
    }
    return n;
  };
}

export function oneOf<T extends string>(flag: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new CliError(`${flag} must be one of ${choices.join(", ")} (got "${value}")`, 2);
    }
    return value as T;
  };
}

/** Applies a parser to an option that may be absent. */
export function optional<T>(parse: (value: string) => T, value: string | undefined): T | undefined {
  return value === undefined ? undefined : parse(value);
}
