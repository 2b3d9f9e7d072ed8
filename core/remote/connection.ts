/**
 * Redis connections for remote training (docs/remote.md). One URL names the
 * server: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS
 * (ioredis turns `rediss:` into a TLS connection; a private CA is trusted
 * through Node's own NODE_EXTRA_CA_CERTS). Passwords never appear in what we
 * print: `redactUrl` hides them.
 */
import { Redis, type RedisOptions } from "ioredis";
import { checkRedisUrl, redactUrl } from "./url.js";

export { checkRedisUrl, REDIS_URL_ENV, RedisUrlError, redactUrl } from "./url.js";

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
