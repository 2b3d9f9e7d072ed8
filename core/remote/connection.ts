/**
 * Redis connections for remote training (docs/remote.md). One URL names the
 * server: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS
 * (ioredis turns `rediss:` into a TLS connection; a private CA is trusted
 * through Node's own NODE_EXTRA_CA_CERTS). Passwords never appear in what we
 * print: `redactUrl` hides them.
 */
import { Redis, type RedisOptions } from "ioredis";

/** The environment variable that makes hosts dispatch runs to Redis (docs/environment.md). */
export const REDIS_URL_ENV = "SGD_STUDIO_REDIS_URL";

export class RedisUrlError extends Error {}

/** Checks a Redis URL and returns it normalised; throws RedisUrlError with a fix. */
export function checkRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUrlError(
      `"${url}" is not a Redis URL: give redis://HOST:PORT, redis://:PASSWORD@HOST:PORT or rediss://HOST:PORT (TLS)`,
    );
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
    throw new RedisUrlError(
      `"${redactUrl(url)}" uses ${parsed.protocol} but a Redis URL starts with redis:// or rediss:// (TLS)`,
    );
  if (!parsed.hostname) throw new RedisUrlError(`"${redactUrl(url)}" names no host`);
  return url;
}

/** The URL with its password replaced by `***` (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

/**
 * A new connection. `blocking` connections (BullMQ workers, XREAD BLOCK)
 * must retry commands forever (maxRetriesPerRequest null, as BullMQ requires);
 * others fail a command after a few reconnection attempts.
 */
export function connect(url: string, options: RedisOptions = {}): Redis {
  return new Redis(checkRedisUrl(url), {
    maxRetriesPerRequest: null,
    // Reconnect forever with a capped backoff: a Redis restart must not end a worker or a host.
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 5), 5_000),
    lazyConnect: false,
    ...options,
  });
}

/**
 * Checks that the server answers (and accepts the password), within
 * `timeoutMs`; throws an Error naming the server (password hidden) and the
 * cause: refused, a certificate not trusted, a wrong password, ...
 */
export async function checkReachable(url: string, timeoutMs = 10_000): Promise<void> {
  let cause: Error | null = null;
  const redis = connect(url, {
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  redis.on("error", (err: Error) => {
    cause ??= err;
  });
  try {
    await redis.ping();
  } catch (err) {
    const first = cause as Error | null;
    const why = (first ?? (err as Error)).message;
    throw new Error(
      `cannot reach Redis at ${redactUrl(url)}: ${why}${/certificate|self.signed/i.test(why) ? " (trust its CA with NODE_EXTRA_CA_CERTS=<ca.pem>)" : ""}`,
    );
  } finally {
    redis.disconnect();
  }
}
