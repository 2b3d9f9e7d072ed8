/** The one client of the service this renderer uses (Electron bridge or the serve WebSocket). */
import { createClient } from "./transport/index";

export const client = createClient();

/** Connection status as a Svelte store of a string. */
export const connection = {
  subscribe(run: (status: string) => void): () => void {
    return client.connection.subscribe((s) => run(s.status));
  },
};
