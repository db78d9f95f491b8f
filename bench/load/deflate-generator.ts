/**
 * The echodeflate load generator: a process of its own, forked by scenarios/echo-deflate.ts.
 *
 * Each connection negotiates permessage-deflate without client context takeover, checks a few echoes
 * by inflating them, then keeps `inFlight` compressed 4 KiB text messages outstanding: each time k
 * echoes complete it sends the next k of the 64 pre-compressed messages (masked at send time with
 * fresh keys) in one write. Echoes are counted from frame headers only, and every one must be a
 * compressed text frame. For the raw-TCP ceiling the very same frame bytes go to a bare echo server.
 * The process exits by itself in every case.
 */
import type { Socket } from 'node:net';
import type { DeflateLoadPlan } from '../deflate-protocol.js';
import { cpuFraction, cpuSample } from '../protocol.js';
import { failAndExit, sendToParent, sleep } from './child-ipc.js';
import { openConnection } from './connect.js';
import { CompressedEchoReader, CyclicEchoCounter, MaskedFrameWriter } from './deflate-frames.js';
import { openDeflateConnection } from './deflate-handshake.js';
import { buildDeflateMessages, type DeflateMessage } from './deflate-messages.js';
import { verifyEchoes } from './deflate-verify.js';

const CONNECT_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 10_000;

interface Counter {
  messages: number;
  payloadBytes: number;
  push(chunk: Buffer): number;
}

interface Opened {
  socket: Socket;
  head: Buffer;
}

/** Raw TCP: one frame must come back byte for byte before the load starts. */
function probeTcp(socket: Socket, frame: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    let have = 0;
    const timer = setTimeout(() => finish(new Error('tcp probe timed out')), PROBE_TIMEOUT_MS);
    const finish = (error: Error | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      if (error === null) resolve();
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      pieces.push(chunk);
      have += chunk.length;
      if (have < frame.length) return;
      finish(Buffer.concat(pieces).equals(frame) ? null : new Error('tcp probe: echo differs'));
    };
    socket.on('data', onData);
    socket.write(frame);
  });
}

/** Open every connection; for WebSocket, check the agreement and size the messages' window to it. */
async function open(plan: DeflateLoadPlan): Promise<{ opened: Opened[]; messages: DeflateMessage[] }> {
  if (plan.protocol === 'tcp') {
    const opened = await Promise.all(
      Array.from({ length: plan.connections }, () => openConnection(plan.port, null, CONNECT_TIMEOUT_MS)),
    );
    return { opened, messages: buildDeflateMessages() };
  }
  const opened = await Promise.all(
    Array.from({ length: plan.connections }, () =>
      openDeflateConnection(plan.port, plan.path, CONNECT_TIMEOUT_MS),
    ),
  );
  const first = opened[0]!.deflate;
  if (opened.some((o) => o.deflate.header !== first.header)) {
    throw new Error('connections negotiated different permessage-deflate parameters');
  }
  await sendToParent({ type: 'negotiated', extensions: first.header });
  const messages = buildDeflateMessages(first.clientMaxWindowBits);
  const writer = new MaskedFrameWriter(
    messages.map((m) => m.compressed),
    1,
  );
  await Promise.all(
    opened.map(({ socket, head, deflate }, c) =>
      verifyEchoes(
        socket,
        head,
        writer,
        messages,
        c,
        plan.probeMessages,
        deflate.serverNoContextTakeover,
        PROBE_TIMEOUT_MS,
      ),
    ),
  );
  return { opened, messages };
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as DeflateLoadPlan;
  const hardLimit = setTimeout(
    () => void failAndExit(new Error('load generator exceeded its time limit')),
    CONNECT_TIMEOUT_MS + PROBE_TIMEOUT_MS + plan.warmupMs + plan.durationMs + 5000,
  );
  hardLimit.unref();
  process.on('disconnect', () => process.exit(1));

  const { opened, messages } = await open(plan);
  const writer = new MaskedFrameWriter(
    messages.map((m) => m.compressed),
    2,
  );
  const count = messages.length;
  // Connections start at different messages, past the ones their probe used.
  const starts = opened.map((_, c) => (c + plan.probeMessages) % count);
  if (plan.protocol === 'tcp') {
    await Promise.all(opened.map(({ socket }, c) => probeTcp(socket, writer.build(starts[c]!, 1))));
  }

  let running = true;
  const counters: Counter[] = [];
  opened.forEach(({ socket }, c) => {
    let next = starts[c]!;
    const counter: Counter =
      plan.protocol === 'ws' ? new CompressedEchoReader() : new CyclicEchoCounter(writer, next);
    counters.push(counter);
    const sendNext = (k: number): void => {
      socket.write(writer.build(next, k));
      next = (next + k) % count;
    };
    socket.on('data', (chunk: Buffer) => {
      let completed: number;
      try {
        completed = counter.push(chunk);
      } catch (error) {
        void failAndExit(error);
        return;
      }
      if (running && completed > 0) sendNext(completed);
    });
    socket.on('error', (error) => {
      if (running) void failAndExit(error);
    });
    socket.on('close', () => {
      if (running) void failAndExit(new Error('the server closed a connection during the run'));
    });
    sendNext(plan.inFlight);
  });

  const totals = () => {
    let messagesEchoed = 0;
    let payloadBytes = 0;
    for (const c of counters) {
      messagesEchoed += c.messages;
      payloadBytes += c.payloadBytes;
    }
    return { messages: messagesEchoed, payloadBytes, time: performance.now() };
  };

  await sleep(plan.warmupMs);
  const start = totals();
  const cpuStart = cpuSample();
  await sendToParent({ type: 'measuring' });
  await sleep(plan.durationMs);
  const end = totals();
  const cpuEnd = cpuSample();
  running = false;
  for (const { socket } of opened) socket.destroy();
  await sendToParent({
    type: 'result',
    messages: end.messages - start.messages,
    payloadBytes: end.payloadBytes - start.payloadBytes,
    seconds: (end.time - start.time) / 1000,
    cpu: cpuFraction(cpuStart, cpuEnd),
  });
  process.exit(0);
}

main().catch(failAndExit);
