// The console is plain React on Vite's built-in esbuild JSX (no framework plugin: see ADR 0018).
// It imports the generated API client from clients/typescript as source.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const client = fileURLToPath(new URL("../clients/typescript/src/index.ts", import.meta.url));

export default defineConfig({
  esbuild: { jsx: "automatic" },
  resolve: { alias: { "@promptworks/client": client } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 800 },
  server: {
    // `npm run dev`: the API of a running stack (make dev) behind the dev server's origin.
    proxy: { "/api": process.env.PROMPTWORKS_API ?? "http://127.0.0.1:8000" },
    fs: { allow: [".."] },
  },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
});
