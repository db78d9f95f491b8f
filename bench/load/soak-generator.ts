/**
 * The soak load generator: a process of its own, forked by scenarios/soak.ts. For `durationMs` it keeps
 * `concurrency` connections alive, each one negotiating permessage-deflate, echoing a few dozen
 * compressed 4 KiB text messages (`inFlight` outstanding) and then ending in one of three ways:
 * - a clean closing handshake (close frame 1000, wait for the server's close frame and TCP close);
 * - abruptly after its echoes: a bare TCP close, no closing handshake;
 * - abruptly mid-traffic, messages still in flight (compression work may be under way on the server).
 * Each connection that ends is replaced at once. Counts go to the orchestrator every
 * `progressEveryMs`; the process exits by itself in every case.
 */
import type { Socket } from 'node:net';
import type { SoakCounts, SoakPlan } from '../deflate-protocol.js';
import { cpuFraction, cpuSample } from '../protocol.js';
import { failAndExit, sendToParent } from './child-ipc.js';
import { CompressedEchoReader, MaskedFrameWriter } from './deflate-frames.js';
import { HandshakeFailure, openDeflateConnection } from './deflate-handshake.js';
import { buildDeflateMessages } from './deflate-messages.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** A connection that has not ended after this long is counted as an error and destroyed. */
const LIFE_LIMIT_MS = 30_000;
/** Pause before replacing a connection that failed, so a dead server does not cause a busy loop. */
const RETRY_DELAY_MS = 50;

type Fate = 'clean' | 'abrupt-after' | 'abrupt-mid';

/** A masked close frame with status 1000 (normal closure). */
function closeFrame(): Buffer {
  const key = [0x5a, 0xc3, 0x19, 0x7e];
  return Buffer.from([0x88, 0x82, ...key, 0x03 ^ key[0]!, 0xe8 ^ key[1]!]);
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as SoakPlan;
  const hardLimit = setTimeout(
    () => void failAndExit(new Error('soak generator exceeded its time limit')),
    plan.durationMs + CONNECT_TIMEOUT_MS + 20_000,
  );
  hardLimit.unref();
  process.on('disconnect', () => process.exit(1));

  // Every server in the soak allows the client a 15-bit window; a different answer fails loudly below.
  const messages = buildDeflateMessages(15);
  const writer = new MaskedFrameWriter(
    messages.map((m) => m.compressed),
    3,
  );
  const count = messages.length;
  const started = performance.now();
  const counts: SoakCounts = {
    elapsedMs: 0,
    opened: 0,
    cleanCloses: 0,
    abruptCloses: 0,
    messages: 0,
    errors: 0,
    lastError: null,
    open: 0,
    handshakeMs: 0,
    handshakes: 0,
    closingMs: 0,
    closings: 0,
    cpu: 0,
  };
  const sockets = new Set<Socket>();
  let running = true;
  let fatal: Error | null = null;

  const fateOf = (): Fate => {
    const r = Math.random();
    if (r < plan.abruptMidShare) return 'abrupt-mid';
    if (r < plan.abruptMidShare + plan.abruptAfterShare) return 'abrupt-after';
    return 'clean';
  };

  const startConnection = (): void => {
    if (!running) return;
    counts.opened++;
    counts.open++;
    let ended = false;
    const end = (error: Error | null): void => {
      if (ended) return;
      ended = true;
      counts.open--;
      if (error !== null) {
        counts.errors++;
        counts.lastError = error.message;
      }
      setTimeout(startConnection, error === null ? 0 : RETRY_DELAY_MS);
    };
    const connecting = performance.now();
    openDeflateConnection(plan.port, plan.path, CONNECT_TIMEOUT_MS).then(
      ({ socket, head, deflate }) => {
        counts.handshakeMs += performance.now() - connecting;
        counts.handshakes++;
        if (deflate.clientMaxWindowBits !== 15) {
          fatal = new HandshakeFailure(`unexpected client_max_window_bits in "${deflate.header}"`);
        }
        sockets.add(socket);
        const target =
          plan.messagesMin + Math.floor(Math.random() * (plan.messagesMax - plan.messagesMin + 1));
        const fate = fateOf();
        const reader = new CompressedEchoReader(true);
        let next = Math.floor(Math.random() * count);
        let sent = 0;
        let echoed = 0;
        let closing = false;
        let closingSince = 0;
        const life = setTimeout(() => {
          socket.destroy();
          end(new Error(`a connection did not end within ${LIFE_LIMIT_MS} ms`));
        }, LIFE_LIMIT_MS);
        const send = (k: number): void => {
          const n = Math.min(k, target - sent);
          if (n <= 0) return;
          socket.write(writer.build(next, n));
          next = (next + n) % count;
          sent += n;
        };
        const abort = (): void => {
          clearTimeout(life);
          socket.destroy();
          counts.abruptCloses++;
          end(null);
        };
        const onChunk = (chunk: Buffer): void => {
          let completed: number;
          try {
            completed = reader.push(chunk);
          } catch (error) {
            clearTimeout(life);
            socket.destroy();
            end(error as Error);
            return;
          }
          echoed += completed;
          counts.messages += completed;
          if (closing || completed === 0) return;
          if (fate === 'abrupt-mid' && echoed >= target >> 1) abort();
          else if (echoed < target) send(completed);
          else if (fate === 'abrupt-after') abort();
          else {
            closing = true;
            closingSince = performance.now();
            socket.write(closeFrame());
          }
        };
        socket.on('data', onChunk);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          sockets.delete(socket);
          clearTimeout(life);
          if (ended) return;
          if (closing && reader.closeReceived) {
            counts.cleanCloses++;
            counts.closingMs += performance.now() - closingSince;
            counts.closings++;
            end(null);
          } else if (running) {
            end(
              new Error(`the server closed a connection (${echoed}/${target} echoed, closing: ${closing})`),
            );
          } else {
            end(null);
          }
        });
        if (head.length > 0) onChunk(head);
        send(plan.inFlight);
      },
      (error: Error) => {
        if (error instanceof HandshakeFailure) fatal = error;
        end(error);
      },
    );
  };

  let cpuFrom = cpuSample();
  const snapshot = (): SoakCounts => {
    const cpuNow = cpuSample();
    counts.cpu = cpuFraction(cpuFrom, cpuNow);
    cpuFrom = cpuNow;
    counts.elapsedMs = performance.now() - started;
    return { ...counts };
  };
  const progress = setInterval(() => {
    if (fatal !== null) void failAndExit(fatal);
    else void sendToParent({ type: 'progress', ...snapshot() });
  }, plan.progressEveryMs);

  for (let i = 0; i < plan.concurrency; i++) startConnection();
  await new Promise<void>((resolve) => setTimeout(resolve, plan.durationMs));
  running = false;
  clearInterval(progress);
  if (fatal !== null) await failAndExit(fatal);
  const done = snapshot();
  for (const socket of sockets) socket.destroy();
  await sendToParent({ type: 'done', ...done });
  process.exit(0);
}

main().catch(failAndExit);
