/**
 * Interop: Debian's libwebsockets test client (/usr/bin/libwebsockets-test-client, lws 4.1.6, from the
 * libwebsockets-test-server package) against `conduit serve`'s composition, in each --deflate mode.
 *
 * The client offers "permessage-deflate; client_no_context_takeover" and, on the mirror protocol
 * (-j: that connection only), sends short "c #rrggbb x y r;" messages as fast as it can. lws up to at
 * least 4.3 loops forever on an uncompressed message once permessage-deflate is agreed (its issue
 * #2794): before Conduit flagged every message compressed (short ones as stored blocks in shared
 * mode, everything deflated in dedicated mode), it hung on the first echo. Here, after 300 messages
 * the server closes with 1000, and lws, run with -O (exit once the connection closes), must exit by
 * itself within seconds: a client stuck on an echo never reads the close frame behind it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseDeflateMode } from '../../src/cli/serve.js';
import { startServer } from '../../src/server/serve.js';
import type { WebSocketConnection } from '../../src/transports/ws/connection.js';
import { until } from '../support/until.js';

const LWS = '/usr/bin/libwebsockets-test-client';
const SKIP = `${LWS} is missing (apt-get install libwebsockets-test-server; .ci/run installs it)`;
/** Messages the server takes from lws before it closes the connection. */
const MESSAGES = 300;
/** From the start of the client to its exit: it takes well under a second when it works. */
const DEADLINE_MS = 5000;

interface Run {
  exitCode: number | null;
  /** Whether we had to kill it at the deadline (it hung). */
  killed: boolean;
  output: string;
}

function runLws(url: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(LWS, [url, '-j', '-O'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      output += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      output += s;
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, DEADLINE_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, killed, output });
    });
  });
}

describe('libwebsockets-test-client (lws 4.1.6) against conduit serve', { timeout: 30_000 }, () => {
  for (const mode of ['shared', 'dedicated'] as const) {
    it(`keeps reading echoes with permessage-deflate (--deflate ${mode}) and exits on the server's close`, async (t) => {
      if (!existsSync(LWS)) return t.skip(SKIP);
      const server = await startServer({ port: 0, demo: false, perMessageDeflate: parseDeflateMode(mode) });
      const seen: { extensions: string; protocol: string; received: number }[] = [];
      const closes: { code: number; wasClean: boolean }[] = [];
      server.echo.on('connection', (conn: WebSocketConnection) => {
        const entry = { extensions: conn.extensions, protocol: conn.protocol, received: 0 };
        seen.push(entry);
        conn.on('message', () => {
          if (++entry.received === MESSAGES) conn.close(1000, 'enough');
        });
        conn.on('close', (code, _reason, wasClean) => closes.push({ code, wasClean }));
      });
      try {
        const run = await runLws(`${server.url.replace(/^http/, 'ws')}/echo`);
        const tail = run.output.split('\n').slice(-12).join('\n');
        assert.equal(
          run.killed,
          false,
          `lws did not exit within ${DEADLINE_MS} ms (stuck on an echo?) after sending ${seen[0]?.received ?? 0} messages:\n${tail}`,
        );
        assert.equal(run.exitCode, 0, tail);
        assert.equal(seen.length, 1, 'one mirror connection');
        assert.equal(seen[0]!.protocol, 'lws-mirror-protocol');
        assert.match(seen[0]!.extensions, /^permessage-deflate; /, 'permessage-deflate agreed');
        assert.ok(seen[0]!.received >= MESSAGES, `${seen[0]!.received} messages`);
        // lws may exit before the server sees the TCP connection end.
        await until(() => closes.length > 0, 'the server-side close', 3000);
        assert.deepEqual(closes, [{ code: 1000, wasClean: true }]);
      } finally {
        await server.close();
      }
    });
  }
});
