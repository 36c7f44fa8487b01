import tailwindcss from '@tailwindcss/vite';
import { defineConfig } from 'vite';

// Static output for `patchbay serve` (plugins/console.ts): hashed assets under /console/assets/, no inline
// scripts or styles (the CSP allows only 'self' and a per-response nonce).
export default defineConfig({
  base: '/console/',
  plugins: [tailwindcss()],
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
    rolldownOptions: {
      // React Query's "use client" markers mean nothing without server components.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
