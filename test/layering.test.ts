/**
 * Who may import whom (docs/layout.md, Layers): the protocol library imports nothing of the application;
 * the hardware adapters only the library; the leaf modules (common/) those two; the simulator and the controller import neither
 * each other nor the harness that joins them; hardware adapters import neither. Read from the
 * import statements of every source file, static and dynamic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const LAYERS = ['firmware-bridge', 'common', 'hardware', 'sim', 'controller', 'harness', 'test'] as const;
type Layer = (typeof LAYERS)[number];

/** What each layer may import besides itself and packages. */
const MAY_IMPORT: Record<Layer, Layer[]> = {
  'firmware-bridge': [],
  common: ['firmware-bridge', 'hardware'],
  hardware: ['firmware-bridge'],
  sim: ['firmware-bridge', 'common', 'hardware'],
  controller: ['firmware-bridge', 'common', 'hardware'],
  harness: ['firmware-bridge', 'common', 'hardware', 'sim', 'controller'],
  test: ['firmware-bridge', 'common', 'hardware', 'sim', 'controller', 'harness'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'fixtures' ? [] : sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(file: string): Layer | undefined {
  const top = relative(ROOT, file).split('/')[0];
  return (LAYERS as readonly string[]).includes(top!) ? (top as Layer) : undefined;
}

test('each layer imports only the layers beneath it', () => {
  const wrong: string[] = [];
  let imports = 0;
  for (const layer of LAYERS.filter((l) => l !== 'test')) {
    for (const file of sources(join(ROOT, layer))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        imports++;
        const target = layerOf(normalize(join(dirname(file), m[1]!)));
        if (target && target !== layer && !MAY_IMPORT[layer].includes(target)) wrong.push(`${relative(ROOT, file)} imports ${m[1]} (${layer} → ${target})`);
      }
    }
  }
  assert.ok(imports > 300, `the import statements were read (${imports})`);
  assert.deepEqual(wrong, []);
});
