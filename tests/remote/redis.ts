/**
 * A real redis-server for the remote-training tests: Debian's binary on a
 * random loopback port, its files in a temporary folder, optionally with a
 * password and TLS (a throwaway CA and server certificate made with openssl).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REDIS_SERVER = "/usr/bin/redis-server";
export const redisFound = existsSync(REDIS_SERVER);

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  /** The CA certificate (TLS only): clients trust it through NODE_EXTRA_CA_CERTS. */
  ca?: string;
  stop(): Promise<void>;
  /** SIGKILLs the server (a lost connection), then starts it again on the same port. */
  restart(): Promise<void>;
}

export interface RedisOptions {
  password?: string;
  tls?: boolean;
}

function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const cert = join(dir, "server.crt");
  const ext = join(dir, "ext.cnf");
  const run = (args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  run([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    caKey,
    "-out",
    ca,
    "-days",
    "2",
    "-subj",
    "/CN=sgd-studio-test-ca",
  ]);
  run([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    "/CN=127.0.0.1",
  ]);
  execFileSync("bash", ["-c", `echo "subjectAltName=IP:127.0.0.1,DNS:localhost" > '${ext}'`]);
  run([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  return { ca, cert, key };
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "redis-test-"));
  const certs = options.tls ? makeCerts(dir) : null;
  let child: ChildProcess | null = null;
  let port = 0;
  const launch = async (fixedPort?: number): Promise<void> => {
    for (let tries = 0; tries < 20; tries++) {
      port = fixedPort ?? 20_000 + Math.floor(Math.random() * 40_000);
      const args = ["--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"];
      if (certs)
        args.push(
          "--port",
          "0",
          "--tls-port",
          String(port),
          "--tls-cert-file",
          certs.cert,
          "--tls-key-file",
          certs.key,
          "--tls-ca-cert-file",
          certs.ca,
          "--tls-auth-clients",
          "no",
        );
      else args.push("--port", String(port));
      if (options.password) args.push("--requirepass", options.password);
      const c = spawn(REDIS_SERVER, args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      c.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
      });
      const ok = await new Promise<boolean>((done) => {
        const t = setInterval(() => {
          if (/Ready to accept connections/.test(out)) {
            clearInterval(t);
            done(true);
          }
        }, 20);
        c.once("exit", () => {
          clearInterval(t);
          done(false);
        });
      });
      if (ok) {
        child = c;
        return;
      }
      if (fixedPort) await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`redis-server did not start (last port ${port})`);
  };
  await launch();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  const stop = async () => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await gone;
  };
  return {
    url: `${certs ? "rediss" : "redis"}://${auth}127.0.0.1:${port}`,
    port,
    dir,
    ca: certs?.ca,
    stop,
    restart: async () => {
      await stop();
      await launch(port);
    },
  };
}
