import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// The dashboard is served by the service itself under /dashboard (functions/dashboard.ts), so every URL starts there.
// `npx vite dashboard` serves it with hot reload against the API of `npm start` on port 3000.
const api = process.env.DASHBOARD_API ?? 'http://localhost:3000';

export default defineConfig({
  base: '/dashboard/',
  plugins: [preact()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0, reportCompressedSize: false },
  server: { proxy: { '/api': api, '/openapi.json': api, '/docs': api } },
});
