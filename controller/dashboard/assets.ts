/**
 * The dashboard's browser app as the server hands it out: `/` (index.html), `/app.js` (one ES
 * module: dashboard/web/main.ts with mqtt.js and uPlot bundled in) and `/app.css` (uPlot's
 * stylesheet and ours). The release build (`npm run build`, scripts/build.ts) bundles them once
 * into dist/dashboard/web/; a station running from the build reads those files and needs no
 * bundler. Running from the sources (development), the server bundles them at start with esbuild,
 * a development dependency loaded only then.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CanopyError } from '../../common/errors.ts';

export interface Asset {
  type: string;
  body: Buffer;
}

/** dashboard/web beside this module: the sources in a checkout, the bundle in dist/. */
const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dashboard', 'web');

const FILES = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
] as const;

/** The bundled files by name, from the sources in `webDir` (esbuild: development and build only). */
export async function bundleDashboard(webDir = WEB_DIR): Promise<Record<(typeof FILES)[number]['file'], Buffer>> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_UNAVAILABLE', 'the dashboard has no bundle here and esbuild (a development tool) is not installed: run "npm run build", or "npm ci" for the development tools', { cause: e });
  }
  const out = await esbuild.build({
    entryPoints: [join(webDir, 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const require = createRequire(import.meta.url);
  const css = [readFileSync(require.resolve('uplot/dist/uPlot.min.css')), readFileSync(join(webDir, 'style.css'))];
  return {
    'index.html': readFileSync(join(webDir, 'index.html')),
    'app.js': Buffer.from(out.outputFiles[0]!.contents),
    'app.css': Buffer.concat(css.flatMap((c) => [c, Buffer.from('\n')])),
  };
}

/** Writes the bundle into `outDir` (the build's dist/dashboard/web). */
export async function writeDashboardBundle(outDir: string, webDir = WEB_DIR): Promise<string[]> {
  const files = await bundleDashboard(webDir);
  mkdirSync(outDir, { recursive: true });
  return Object.entries(files).map(([name, body]) => {
    writeFileSync(join(outDir, name), body);
    return name;
  });
}

/** The assets by URL path: the build's bundle when this is the build, else bundled now. */
export async function loadAssets(webDir = WEB_DIR): Promise<Map<string, Asset>> {
  const built = existsSync(join(webDir, 'app.js'));
  const files = built ? Object.fromEntries(FILES.map((f) => [f.file, readFileSync(join(webDir, f.file))])) : await bundleDashboard(webDir);
  return new Map(FILES.map((f) => [f.path, { type: f.type, body: files[f.file]! }]));
}
