/**
 * The issue 14 attack run, long: `conduit serve` (default flags, a child process) under each attack of
 * the hostile-input issue for a bounded time, with its RSS sampled from /proc and a legitimate client
 * (another loopback address) timing its /echo round trip and its hub `connected` every 250 ms.
 *
 *   npm run build && node dist/bench/attacks.js [--seconds 30] [--attack publish,lockout,fragments,declared]
 *
 * Loopback only; every loop is bounded in time and stops by itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const LEGITIMATE = '127.0.0.2';
const MiB = 1024 * 1024;

interface Target {
  child: ChildProcess;
  port: number;
  url: string;
}

async function startServe(): Promise<Target> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
      const match = /conduit serving (http:\/\/127\.0\.0\.1:(\d+))\//.exec(out);
      if (match !== null) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`conduit serve exited with ${code}`)));
  });
  return { child, url, port: Number(new URL(url).port) };
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Milliseconds for a new client from LEGITIMATE to get its echo, then its hub `connected` (or Infinity). */
async function legitimate(url: string): Promise<[number, number]> {
  const time = (path: string, protocol: string | undefined, done: (data: string) => boolean) =>
    new Promise<number>((resolve) => {
      const started = performance.now();
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${path}`, protocol, {
        localAddress: LEGITIMATE,
      });
      const timer = setTimeout(() => finish(Number.POSITIVE_INFINITY), 5000);
      const finish = (ms: number) => {
        clearTimeout(timer);
        ws.terminate();
        resolve(ms);
      };
      ws.on('error', () => finish(Number.POSITIVE_INFINITY));
      ws.on('open', () => ws.send('ping?'));
      ws.on('message', (data) => {
        if (done(String(data))) finish(performance.now() - started);
      });
    });
  const echo = await time('/echo', undefined, (data) => data === 'ping?');
  const hub = await time('/ws', 'conduit.v1', (data) => data.includes('"connected"'));
  return [echo, hub];
}

function zeroMaskFrame(opcode: number, fin: boolean, payload: Buffer, declared = payload.length): Buffer {
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  if (declared < 126) head.push(0x80 | declared);
  else if (declared < 65536) head.push(0x80 | 126, declared >> 8, declared & 0xff);
  else
    head.push(
      0x80 | 127,
      0,
      0,
      0,
      0,
      (declared >>> 24) & 0xff,
      (declared >> 16) & 0xff,
      (declared >> 8) & 0xff,
      declared & 0xff,
    );
  head.push(0, 0, 0, 0);
  return Buffer.concat([Buffer.from(head), payload]);
}

function rawWebSocket(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () =>
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    socket.once('data', () => resolve(socket));
    socket.on('error', reject);
  });
}

type Attack = (target: Target, until: number) => Promise<string>;

const attacks: Record<string, Attack> = {
  /** Four anonymous clients publishing 63 KB messages with distinct cmids to one channel. */
  async publish(target, until) {
    let sent = 0;
    let acked = 0;
    await Promise.all(
      [1, 2, 3, 4].map(async (n) => {
        const ws = new WebSocket(`${target.url.replace(/^http/, 'ws')}/ws`, 'conduit.v1');
        ws.on('error', () => undefined);
        ws.on('message', (data) => {
          if (String(data).startsWith('{"type":"ack"')) acked++;
        });
        await once(ws, 'open');
        const data = String(n).repeat(63_000);
        for (let i = 0; Date.now() < until && ws.readyState === 1; i++) {
          ws.send(JSON.stringify({ type: 'publish', id: i + 1, channel: 'flood', data, cmid: `${n}-${i}` }));
          sent++;
          if (ws.bufferedAmount > 4 * MiB) await new Promise((r) => setTimeout(r, 2));
        }
        ws.terminate();
      }),
    );
    return `${sent} publishes sent, ${acked} acked`;
  },

  /** New long-polling sessions from one address as fast as the server answers. */
  async lockout(target, until) {
    const statuses = new Map<number, number>();
    let n = 0;
    const one = () =>
      new Promise<void>((resolve) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: target.port,
            path: `/hub/poll?t=lockout${String(n++).padStart(16, '0')}`,
            agent: false,
          },
          (res) => {
            statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1);
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', () => resolve());
        req.end();
      });
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() < until) await one();
      }),
    );
    return `${n} polls: ${[...statuses].map(([s, c]) => `${c} x ${s}`).join(', ')}`;
  },

  /** Three connections at a time sending a message in 1-byte fragments, reconnecting when closed. */
  async fragments(target, until) {
    let fragments = 0;
    let closes = 0;
    const first = zeroMaskFrame(2, false, Buffer.of(0x61));
    const next = zeroMaskFrame(0, false, Buffer.of(0x61));
    const batch = Buffer.concat(Array.from({ length: 4096 }, () => next));
    await Promise.all(
      [1, 2, 3].map(async () => {
        while (Date.now() < until) {
          const socket = await rawWebSocket(target.port, '/echo');
          socket.on('error', () => undefined);
          let ended = false;
          socket.on('end', () => {
            ended = true;
          });
          socket.resume(); // read the server's close frame and its FIN
          socket.write(first);
          while (!socket.destroyed && !ended && Date.now() < until) {
            if (!socket.write(batch)) await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
            fragments += 4096;
            await new Promise((r) => setImmediate(r));
          }
          closes++;
          socket.destroy();
        }
      }),
    );
    // (`fragments` counts what was written, most of it after the server's close, discarded unread.)
    return `${closes} connections sent one-byte fragments until closed (${(fragments / 1e6).toFixed(0)} M written)`;
  },

  /** 500 connections each declaring a 16 MiB frame and sending one byte of it. */
  async declared(target, until) {
    const sockets: Socket[] = [];
    for (let i = 0; i < 500 && Date.now() < until; i++) {
      const socket = await rawWebSocket(target.port, '/echo');
      socket.on('error', () => undefined);
      socket.write(zeroMaskFrame(2, true, Buffer.of(1), 16 * MiB));
      sockets.push(socket);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())));
    for (const socket of sockets) socket.destroy();
    return `${sockets.length} connections, 15 bytes each`;
  },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '30' },
      attack: { type: 'string', default: Object.keys(attacks).join(',') },
    },
  });
  const seconds = Number(values.seconds);
  console.log(
    '| attack | what was sent | server RSS before / peak / after, MiB | legitimate echo p50 / max, ms | hub connected p50 / max, ms | server alive |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const name of values.attack.split(',')) {
    const attack = attacks[name];
    if (attack === undefined) throw new Error(`unknown attack ${name}`);
    const target = await startServe();
    const pid = target.child.pid!;
    const before = rssMiB(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(pid));
    }, 100);
    const until = Date.now() + seconds * 1000;
    const echoes: number[] = [];
    const hubs: number[] = [];
    const probe = (async () => {
      while (Date.now() < until) {
        const [echo, hub] = await legitimate(target.url);
        echoes.push(echo);
        hubs.push(hub);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const what = await attack(target, until);
    await probe;
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(sampler);
    const alive = target.child.exitCode === null;
    const after = alive ? rssMiB(pid) : 0;
    const stat = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const fmt = (x: number | undefined) =>
        x === undefined ? '-' : Number.isFinite(x) ? x.toFixed(0) : 'none';
      return `${fmt(sorted[Math.floor(sorted.length / 2)])} / ${fmt(sorted.at(-1))}`;
    };
    console.log(
      `| ${name} | ${what} | ${before.toFixed(0)} / ${peak.toFixed(0)} / ${after.toFixed(0)} | ${stat(echoes)} | ${stat(hubs)} | ${alive ? 'yes' : 'NO'} |`,
    );
    target.child.kill('SIGKILL');
    await once(target.child, 'exit');
  }
}

await main();
