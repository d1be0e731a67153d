import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The console is served by the entry point at /, next to /api/v1 (same origin: the session
// cookie is SameSite=Strict). `npm run dev` proxies the API to a running stack.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        // Ant Design and React change less often than the pages: their own cacheable chunks.
        manualChunks: { react: ["react", "react-dom", "react-router-dom"], antd: ["antd", "dayjs"] },
      },
    },
  },
  server: { proxy: { "/api": process.env.AIL_ENTRY_URL ?? "http://127.0.0.1:18080" } },
  test: { globals: true, environment: "jsdom", setupFiles: ["./src/test-setup.ts"], include: ["src/**/*.test.tsx", "src/**/*.test.ts"] },
});
