/**
 * For the attack suite (test/attacks/): a server composed as `conduit serve` composes it, and the
 * legitimate client that must still be served while an attack runs (its echo on /echo and its hub
 * `connected` on /ws, each within a second).
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { type RunningServer, type ServeOptions, startServer } from '../../src/server/serve.js';
import { within } from './interop/peers.js';

/** `conduit serve`'s composition on a free port (no demo feed: it would only add noise). */
export function startTarget(options: ServeOptions = {}): Promise<RunningServer> {
  return startServer({ port: 0, demo: false, ...options });
}

/** Milliseconds for a new client to open /echo and get its message back. */
export async function echoLatency(url: string, localAddress?: string): Promise<number> {
  const started = performance.now();
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/echo`, { localAddress });
  ws.on('error', () => undefined);
  try {
    await within(
      5000,
      'the legitimate echo',
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => ws.send('still here?'));
        ws.once('message', (data) =>
          String(data) === 'still here?' ? resolve() : reject(new Error('bad echo')),
        );
        ws.once('error', reject);
      }),
    );
    return performance.now() - started;
  } finally {
    ws.terminate();
  }
}

/** Milliseconds for a new hub client to get `connected` on /ws. */
export async function hubLatency(url: string, localAddress?: string): Promise<number> {
  const started = performance.now();
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, 'conduit.v1', { localAddress });
  ws.on('error', () => undefined);
  try {
    await within(
      5000,
      'the legitimate hub connection',
      new Promise<void>((resolve, reject) => {
        ws.on('message', (data) => {
          const message = JSON.parse(String(data)) as { type: string };
          if (message.type === 'connected') resolve();
        });
        ws.once('close', (code) => reject(new Error(`closed with ${code} before connected`)));
        ws.once('error', reject);
      }),
    );
    return performance.now() - started;
  } finally {
    ws.terminate();
  }
}

/**
 * A legitimate client gets its echo and its hub `connected`, each within a second (from
 * `localAddress`, another loopback address than the attacker's when limits per address apply).
 */
export async function assertLegitimateClientServed(url: string, localAddress?: string): Promise<void> {
  const echo = await echoLatency(url, localAddress);
  assert.ok(echo < 1000, `legitimate echo took ${echo.toFixed(0)} ms during the attack`);
  const hub = await hubLatency(url, localAddress);
  assert.ok(hub < 1000, `legitimate hub connected took ${hub.toFixed(0)} ms during the attack`);
}

/** A raw TCP connection that completed a WebSocket handshake on `path` (bytes after the 101 kept). */
export function rawWebSocket(port: number, path: string, host = '127.0.0.1'): Promise<Socket> {
  const request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  return within(
    5000,
    'a raw handshake',
    new Promise<Socket>((resolve, reject) => {
      const socket = netConnect({ host, port }, () => socket.write(request));
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`no 101: ${head.split('\r\n')[0]}`));
        else resolve(socket);
      };
      socket.on('data', onData);
      socket.once('error', reject);
    }),
  );
}

/** Bytes the process holds outside the JS heap in ArrayBuffers (Buffers), and its heap, bytes. */
export function memoryNow(): { arrayBuffers: number; heapUsed: number; rss: number } {
  const m = process.memoryUsage();
  return { arrayBuffers: m.arrayBuffers, heapUsed: m.heapUsed, rss: m.rss };
}

export const MiB = 1024 * 1024;

// A collection on demand, so that what is measured is what the process keeps, not garbage yet to go.
setFlagsFromString('--expose-gc');
export const gc = runInNewContext('gc') as () => void;

/** The V8 heap in use after two full collections, bytes. */
export function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
