/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` and `npm run preview` forward the API to a running `dbaas serve`.
const target = process.env.DBAAS_URL ?? "http://127.0.0.1:8000";
const proxy = {
  "/api": { target, changeOrigin: false },
  "/openapi.json": { target, changeOrigin: false },
};

export default defineConfig({
  base: "/",
  plugins: [react()],
  server: { proxy },
  preview: { proxy },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
    // One file per lazily loaded route; the hash in each name comes from its content only.
    chunkSizeWarningLimit: 400,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    css: false,
  },
});
