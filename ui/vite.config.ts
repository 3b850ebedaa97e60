import solid from "vite-plugin-solid";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [solid()],
  // The app loads the UI from its own custom protocol, so asset URLs must be relative-safe.
  base: "./",
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // WebKitGTK on Debian 12 and newer.
    target: "safari16",
    // One JS and one CSS file, no inline modulepreload polyfill (the CSP forbids inline scripts).
    modulePreload: { polyfill: false },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    // The contrast test reads styles.css as text (`?raw`); without this Vitest hands it "".
    css: { include: [/styles\.css/] },
  },
  resolve: { conditions: ["development", "browser"] },
});
