/**
 * The broadcast load generator: a process of its own, forked by scenarios/broadcast.ts. It opens
 * `clients` WebSocket connections (`concurrency` handshakes in flight), then only counts the bytes
 * that arrive. Every frame of a broadcast is the same 66 bytes (2-byte header, 64-byte payload,
 * unmasked), so deliveries = bytes / 66. The first frame of every connection is compared byte for
 * byte, and in every read the header of the first frame that starts in it is checked, which catches
 * any frame of another size or kind. After the warm-up, deliveries are counted over a fixed window.
 */
import { cpuFraction, cpuSample } from '../protocol.js';
import type { BroadcastLoadPlan, BroadcastResult } from '../scenarios/ipc.js';
import { bound, fail, report, sleep } from './child.js';
import { buildHandshake, openAll, openUpgraded } from './upgrade.js';

const CONNECT_TIMEOUT_MS = 10_000;
const PAYLOAD_LENGTH = 64;
const FRAME_LENGTH = 2 + PAYLOAD_LENGTH;

/** The frame every server sends: FIN + binary, unmasked, length 64, then the payload of pacing.ts. */
function expectedFrame(): Buffer {
  const frame = Buffer.alloc(FRAME_LENGTH);
  frame[0] = 0x82;
  frame[1] = PAYLOAD_LENGTH;
  for (let i = 0; i < PAYLOAD_LENGTH; i++) frame[2 + i] = (i * 31 + 7) & 0xff;
  return frame;
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as BroadcastLoadPlan;
  bound(60_000 + plan.warmupMs + plan.durationMs);
  const expected = expectedFrame();
  const handshake = buildHandshake(plan.port, plan.path, null);
  /** Bytes received per connection, for the frame alignment and the fairness check. */
  const received = new Float64Array(plan.clients);
  let total = 0;
  let running = true;

  const connectStarted = performance.now();
  const opened = await openAll(plan.clients, plan.concurrency, (index) =>
    openUpgraded(handshake, CONNECT_TIMEOUT_MS, {
      bytes(buffer, start, end) {
        const before = received[index]!;
        if (before < FRAME_LENGTH) {
          for (let i = start, at = before; i < end && at < FRAME_LENGTH; i++, at++) {
            if (buffer[i] !== expected[at]) {
              void fail(new Error(`connection ${index}: first frame differs at byte ${at}`));
              return;
            }
          }
        }
        const first = start + ((FRAME_LENGTH - (before % FRAME_LENGTH)) % FRAME_LENGTH);
        if (first < end && (buffer[first] !== 0x82 || (first + 1 < end && buffer[first + 1] !== 64))) {
          void fail(
            new Error(`connection ${index}: frame header 0x${buffer[first]!.toString(16)} at ${before}`),
          );
          return;
        }
        received[index] = before + (end - start);
        total += end - start;
      },
      lost(error) {
        if (running) void fail(error);
      },
    }),
  );
  const connectSeconds = (performance.now() - connectStarted) / 1000;

  await sleep(plan.warmupMs);
  const startBytes = total;
  const perClientStart = Float64Array.from(received);
  const startTime = performance.now();
  const cpuStart = cpuSample();
  await report({ type: 'measuring' });
  await sleep(plan.durationMs);
  const bytes = total - startBytes;
  const seconds = (performance.now() - startTime) / 1000;
  const cpu = cpuFraction(cpuStart, cpuSample());
  running = false;
  let minPerClient = Number.POSITIVE_INFINITY;
  for (let i = 0; i < plan.clients; i++) {
    minPerClient = Math.min(minPerClient, (received[i]! - perClientStart[i]!) / FRAME_LENGTH);
  }
  for (const { socket } of opened) socket.destroy();
  if (bytes === 0) await fail(new Error('no broadcast arrived during the measurement window'));
  const deliveries = bytes / FRAME_LENGTH;
  await report<BroadcastResult>({
    type: 'result',
    messages: deliveries,
    payloadBytes: deliveries * PAYLOAD_LENGTH,
    seconds,
    cpu,
    connectSeconds,
    minPerClient: Math.floor(minPerClient),
  });
  process.exit(0);
}

main().catch(fail);
