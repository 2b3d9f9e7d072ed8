/** Errors the run library reports; `code` lets hosts react without parsing messages. */
export type StoreErrorCode =
  | "open"
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
