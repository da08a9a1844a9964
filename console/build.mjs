// Builds the console into dist/: index.html, app.js and app.css, the three files the netwarden
// binary embeds. Everything is bundled (no CDN), so the console works on an air-gapped cluster.
import { build } from 'esbuild';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

await build({
  entryPoints: { app: join(root, 'src/main.ts') },
  outdir: dist,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
await build({
  entryPoints: { app: join(root, 'src/app.css') },
  outdir: dist,
  bundle: true,
  minify: true,
  logLevel: 'warning',
});
await copyFile(join(root, 'src/index.html'), join(dist, 'index.html'));

for (const name of ['index.html', 'app.js', 'app.css']) {
  const { size } = await stat(join(dist, name));
  console.log(`dist/${name.padEnd(10)} ${(size / 1024).toFixed(1)} KiB`);
}
