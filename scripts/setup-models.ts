/**
 * Setup step run before `npm test` and `npm start`: builds models/onnx/ and its manifest.
 * Usage: tsx scripts/setup-models.ts [--faces]   (--faces also fetches the real test photos)
 */
import { join, resolve } from 'node:path';
import { setupModels } from '../models/setup/setup-models';
import { ensureFaceImages } from '../models/datasets/faces';

const repoRoot = resolve(__dirname, '..');
const log = (message: string): void => console.log(`[setup-models] ${message}`);

function main(): void {
  const started = Date.now();
  const result = setupModels({
    repoRoot,
    modelDir: join(repoRoot, 'models', 'onnx'),
    cacheDir: join(repoRoot, 'models', '.cache'),
    log,
  });
  log(
    `models ready: ${result.built.length} built, ${result.upToDate.length} up to date (${Date.now() - started} ms)`,
  );
  if (process.argv.includes('--faces')) {
    const faces = ensureFaceImages({ repoRoot, log });
    log(`face photos ready in ${faces.root}: ${faces.images.length} images`);
  }
}

try {
  main();
} catch (error) {
  console.error(`[setup-models] failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
