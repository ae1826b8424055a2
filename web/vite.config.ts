import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "./",
  plugins: [react()],
  server: { proxy: { "/api": { target: "http://127.0.0.1:8188", ws: true } } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
