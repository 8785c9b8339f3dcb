import { fileURLToPath, URL } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'
import { firstLoadBudget } from './build/budget.ts'
import { compileHints } from './build/compileHints.ts'
import { compressBuild } from './build/compress.ts'
import { precacheServiceWorker } from './build/precache.ts'
import { preloadFirstRoom } from './build/preloadChunks.ts'

export default defineConfig({
  plugins: [
    vue(),
    compileHints(),
    firstLoadBudget(),
    preloadFirstRoom(),
    precacheServiceWorker(),
    compressBuild(),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  build: {
    outDir: '../static',
    emptyOutDir: true,
    target: 'es2022',
    // Inline nothing: the CSP has no data: for scripts or styles.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8080', ws: true },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts', 'build/**/*.test.ts'],
    setupFiles: ['src/test-setup.ts'],
  },
})
