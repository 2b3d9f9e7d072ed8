/**
 * Redis URLs for remote training, without loading ioredis or BullMQ (the CLI
 * checks its --redis flag before it loads them, and only for the commands that use them).
 */

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
