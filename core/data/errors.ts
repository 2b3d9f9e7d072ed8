/** The error every loader throws for a missing, malformed or inconsistent dataset. */
export class DatasetError extends Error {
  /** The file or folder at fault, when there is one. */
  readonly file: string | undefined;
  constructor(message: string, file?: string, options?: { cause?: unknown }) {
    super(file ? `${file}: ${message}` : message, options);
    this.name = "DatasetError";
    this.file = file;
  }
}

/** Formats a count with thousands separators: 47040016 -> "47,040,016". */
export function fmt(n: number): string {
  return n.toLocaleString("en-US");
}
