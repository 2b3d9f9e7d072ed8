import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

// The renderer is served by the Electron app (app:// protocol) and by `sgd-studio serve`;
// both load it from dist/renderer with relative asset paths.
export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  plugins: [svelte()],
  build: {
    outDir: "../dist/renderer",
    emptyOutDir: true,
    // No inline scripts or styles: the Content-Security-Policy forbids them.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1000,
  },
});
