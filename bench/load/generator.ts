/**
 * The load generator: a process of its own, forked by run.ts, that drives one server under test.
 *
 * Every connection keeps `inFlight` messages outstanding: it sends that many at the start, and each
 * time echoes complete it sends as many again, in one write. Frames are built once (fixed mask key)
 * and reused; echoed frames are counted without copying. After a warm-up, messages and payload bytes
 * are counted over a fixed window and reported over IPC. The process exits by itself in every case.
 */
import type { Socket } from 'node:net';
import { cpuFraction, cpuSample, type LoadMessage, type LoadPlan } from '../protocol.js';
import { openConnection } from './connect.js';
import { buildClientFrame, EchoedByteCounter, ServerFrameCounter } from './frames.js';

const CONNECT_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 10_000;
/** Frames of up to this many bytes are sent `inFlight` at a time from one pre-built batch buffer. */
const BATCH_LIMIT = 64 * 1024;

interface Counter {
  messages: number;
  payloadBytes: number;
  push(chunk: Buffer): number;
}

function send(message: LoadMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || process.send === undefined) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function fail(error: unknown): Promise<never> {
  const message = error instanceof Error ? error.message : String(error);
  await send({ type: 'failure', message });
  process.exit(1);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The server frame a WebSocket server echoes for `payload`: unmasked, binary, FIN. */
function serverFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const base = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.alloc(base + length);
  frame[0] = 0x82;
  if (length < 126) frame[1] = length;
  else if (length < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, base);
  return frame;
}

/** Send one message and check that exactly the expected bytes come back (correctness before speed). */
function probe(socket: Socket, head: Buffer, frame: Buffer, expected: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = head.length > 0 ? [head] : [];
    let have = head.length;
    const timer = setTimeout(() => finish(new Error('probe echo timed out')), PROBE_TIMEOUT_MS);
    const finish = (error: Error | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', finish);
      socket.off('close', onClose);
      if (error !== null) reject(error);
      else resolve();
    };
    const check = (): void => {
      if (have < expected.length) return;
      const got = Buffer.concat(pieces);
      if (got.length !== expected.length)
        finish(new Error(`probe: ${got.length - expected.length} extra bytes`));
      else if (!got.equals(expected)) finish(new Error('probe: echoed bytes differ from what was sent'));
      else finish(null);
    };
    const onData = (chunk: Buffer): void => {
      pieces.push(chunk);
      have += chunk.length;
      check();
    };
    const onClose = (): void => finish(new Error('connection closed during the probe'));
    socket.on('data', onData);
    socket.on('error', finish);
    socket.on('close', onClose);
    socket.write(frame);
    check();
  });
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as LoadPlan;
  const hardLimit = setTimeout(
    () => void fail(new Error('load generator exceeded its time limit')),
    CONNECT_TIMEOUT_MS + PROBE_TIMEOUT_MS + plan.warmupMs + plan.durationMs + 5000,
  );
  hardLimit.unref();
  process.on('disconnect', () => process.exit(1));

  const payload = Buffer.alloc(plan.size);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const frame = buildClientFrame(payload);
  const batch =
    frame.length * plan.inFlight <= BATCH_LIMIT
      ? Buffer.concat(Array.from({ length: plan.inFlight }, () => frame))
      : null;
  const expectedEcho = plan.protocol === 'ws' ? serverFrame(payload) : frame;
  const path = plan.protocol === 'ws' ? plan.path : null;

  const opened = await Promise.all(
    Array.from({ length: plan.connections }, () => openConnection(plan.port, path, CONNECT_TIMEOUT_MS)),
  );
  await Promise.all(opened.map(({ socket, head }) => probe(socket, head, frame, expectedEcho)));

  let running = true;
  const counters: Counter[] = [];
  for (const { socket } of opened) {
    const counter: Counter =
      plan.protocol === 'ws' ? new ServerFrameCounter() : new EchoedByteCounter(frame.length, plan.size);
    counters.push(counter);
    socket.on('data', (chunk: Buffer) => {
      let completed: number;
      try {
        completed = counter.push(chunk);
      } catch (error) {
        void fail(error);
        return;
      }
      if (!running || completed === 0) return;
      if (batch !== null)
        socket.write(completed === plan.inFlight ? batch : batch.subarray(0, completed * frame.length));
      else for (let i = 0; i < completed; i++) socket.write(frame);
    });
    socket.on('error', (error) => {
      if (running) void fail(error);
    });
    socket.on('close', () => {
      if (running) void fail(new Error('the server closed a connection during the run'));
    });
    if (batch !== null) socket.write(batch);
    else for (let i = 0; i < plan.inFlight; i++) socket.write(frame);
  }

  const totals = () => {
    let messages = 0;
    let payloadBytes = 0;
    for (const c of counters) {
      messages += c.messages;
      payloadBytes += c.payloadBytes;
    }
    return { messages, payloadBytes, time: performance.now() };
  };

  await sleep(plan.warmupMs);
  const start = totals();
  const cpuStart = cpuSample();
  await send({ type: 'measuring' });
  await sleep(plan.durationMs);
  const end = totals();
  const cpuEnd = cpuSample();
  running = false;
  for (const { socket } of opened) socket.destroy();
  await send({
    type: 'result',
    messages: end.messages - start.messages,
    payloadBytes: end.payloadBytes - start.payloadBytes,
    seconds: (end.time - start.time) / 1000,
    cpu: cpuFraction(cpuStart, cpuEnd),
  });
  process.exit(0);
}

main().catch(fail);
