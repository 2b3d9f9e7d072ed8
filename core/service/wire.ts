/** The `serve` WebSocket's message types are declared in core/api/wire.ts. */
export type * from "../api/wire.js";
