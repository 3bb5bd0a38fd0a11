import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is served by the Cordon server from dist/; in `npm run dev -w @cordon/console`
// the API is proxied to a server started with `npm start`.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The CSP allows no inline script: keep Vite from inlining its module preload helper.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1500,
  },
  server: { proxy: { '/api': process.env.CORDON_API ?? 'http://127.0.0.1:8080' } },
});
