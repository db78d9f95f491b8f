/**
 * The README's examples stay true to the package: every ```js block parses as an ES module
 * (`node --check`), and every name it imports from 'conduit' is exported by the package's entry point
 * (dist/src/index.js) with the kind the example uses (a class or function).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY = join(ROOT, 'dist/src/index.js');
const run = promisify(execFile);

interface Block {
  lang: string;
  line: number;
  code: string;
}

async function readmeBlocks(): Promise<Block[]> {
  const lines = (await readFile(join(ROOT, 'README.md'), 'utf8')).split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== '```') end++;
    blocks.push({ lang: open[1]!, line: start, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

function importedNames(code: string): string[] {
  const names: string[] = [];
  for (const match of code.matchAll(/import\s*\{([^}]*)\}\s*from\s*'conduit'/g)) {
    for (const part of match[1]!.split(',')) {
      const name = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)[0]!;
      if (name !== '' && !part.trim().startsWith('type ')) names.push(name);
    }
  }
  return names;
}

describe('README examples', () => {
  it('parse as ES modules and import only what the package exports', async (t) => {
    const blocks = (await readmeBlocks()).filter((b) => b.lang === 'js');
    assert.ok(blocks.length >= 10, `${blocks.length} js examples found`);
    const exported = (await import(pathToFileURL(ENTRY).href)) as Record<string, unknown>;
    const dir = await mkdtemp(join(tmpdir(), 'conduit-readme-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const problems: string[] = [];
    for (const block of blocks) {
      for (const name of importedNames(block.code)) {
        if (typeof exported[name] !== 'function')
          problems.push(`README.md:${block.line}: '${name}' is not exported`);
      }
      const file = join(dir, `example-${block.line}.mjs`);
      await writeFile(file, block.code.replaceAll("from 'conduit'", `from '${pathToFileURL(ENTRY).href}'`));
      try {
        await run(process.execPath, ['--check', file]);
      } catch (error) {
        problems.push(`README.md:${block.line}: ${(error as { stderr?: string }).stderr ?? String(error)}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('name options that exist: the Redis example and the ts block use exported functions', async () => {
    const blocks = (await readmeBlocks()).filter((b) => b.lang === 'ts');
    const exported = (await import(pathToFileURL(ENTRY).href)) as Record<string, unknown>;
    for (const block of blocks) {
      for (const match of block.code.matchAll(/\b(startServer|connectHub|connect)\(/g)) {
        assert.equal(typeof exported[match[1]!], 'function', `README.md:${block.line}: ${match[1]}`);
      }
    }
  });
});
