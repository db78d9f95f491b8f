/**
 * `conduit bench transports` runs end to end on a tiny load and writes what it promises: a table per
 * transport, JSON figures and an SVG chart. (The figures themselves are benchmarks, not tested here.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('conduit bench transports', () => {
  it('measures WebSocket, SSE and long-polling and writes a table, JSON and an SVG chart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conduit-bench-'));
    const json = join(dir, 'figures.json');
    const svg = join(dir, 'chart.svg');
    const args = [
      'bench',
      'transports',
      '--subscribers',
      '2',
      '--rate',
      '50',
      '--seconds',
      '1',
      '--burst',
      '100',
    ];
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, ...args, '--runs', '1', '--json', json, '--svg', svg],
      { timeout: 90_000 },
    );
    for (const name of ['WebSocket', 'SSE + POST', 'long-polling'])
      assert.ok(stdout.includes(`| ${name} |`), stdout);
    const figures = JSON.parse(await readFile(json, 'utf8')) as {
      medians: {
        transport: string;
        p50Ms: number;
        messagesPerSecond: number;
        bytesDown: number;
        bytesPerPublish: number;
      }[];
    };
    assert.deepEqual(
      figures.medians.map((m) => m.transport),
      ['websocket', 'sse', 'polling'],
    );
    for (const m of figures.medians) {
      assert.ok(m.p50Ms > 0 && m.messagesPerSecond > 0, JSON.stringify(m));
      // A 64-character message in its hub envelope is over 100 bytes on any transport.
      assert.ok(m.bytesDown > 100 && m.bytesPerPublish > 100, JSON.stringify(m));
    }
    const chart = await readFile(svg, 'utf8');
    assert.match(chart, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((chart.match(/<rect /g) ?? []).length > 20, true);
  });

  it('refuses an unknown benchmark', async () => {
    await assert.rejects(promisify(execFile)(process.execPath, [CLI, 'bench', 'nothing']), { code: 2 });
  });
});
