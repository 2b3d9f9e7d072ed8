/** For the CLI's tests: runs `sgd-studio ...argv` in this process and captures what it prints. */
import { main } from "./main.js";

export async function runCli(
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}
