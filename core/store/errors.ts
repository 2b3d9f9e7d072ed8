/** Errors the run library reports; `code` lets hosts react without parsing messages. */
export type StoreErrorCode =
  | "open"
  | "read-only"
  | "corrupt"
  | "busy"
  | "lost-claim"
  | "not-a-library"
  | "newer-schema"
  | "not-found"
  | "ambiguous-id"
  | "illegal-transition"
  | "invalid"
  | "import"
  | "duplicate";

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}

/** SQLite's "another connection holds the write lock" (SQLITE_BUSY / SQLITE_LOCKED), worth retrying. */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
  );
}
