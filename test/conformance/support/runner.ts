/**
 * Running cases: as a client against a server's URL (Autobahn's fuzzingclient), or as a server that a
 * client under test connects to (Autobahn's fuzzingserver, one connection per case).
 */
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { type CaseResult, CaseRun, type ConformanceCase } from './case-run.js';
import { judgeNegotiation, type Negotiation, PeerDeflate, parseExtensions } from './deflate.js';
import { clientHandshakeOffering, serverHandshake } from './handshake.js';
import { FuzzPeer, type Timing } from './peer.js';

/** What the runner knows about the endpoint under test beyond its URL. */
export interface RunOptions {
  /** The endpoint compresses every message of at least this many bytes (see CaseRun.compressThreshold). */
  compressThreshold?: number;
}

export const DEFAULT_TIMING: Timing = { second: 1000, pause: 50 };

const HANDSHAKE_TIMEOUT_MS = 5000;

function handshakeFailure(spec: ConformanceCase, error: unknown, started: number): CaseResult {
  const reason = error instanceof Error ? error.message : String(error);
  return {
    id: spec.id,
    description: spec.description,
    behavior: 'FAILED',
    behaviorClose: 'FAILED',
    result: `opening handshake failed: ${reason}`,
    resultClose: 'no WebSocket connection',
    strictFailures: [],
    passed: false,
    received: [],
    closedByMe: false,
    droppedByMe: false,
    wasClean: false,
    wasNotCleanReason: reason,
    remoteCloseCode: null,
    remoteCloseReason: null,
    violation: null,
    negotiation: null,
    durationMs: Date.now() - started,
  };
}

/** Start a case on a socket whose opening handshake is done; resolves when the connection is gone. */
function runOnSocket(
  spec: ConformanceCase,
  socket: Socket,
  role: 'client' | 'server',
  head: Buffer,
  timing: Timing,
  negotiation: Negotiation | null,
  options: RunOptions,
): Promise<CaseResult> {
  const run = new CaseRun(spec);
  const peer = new FuzzPeer(socket, role, run, timing);
  run.p = peer;
  run.negotiation = negotiation;
  run.compressThreshold = options.compressThreshold ?? null;
  if (negotiation?.agreement != null && negotiation.problem === null) {
    peer.deflate = new PeerDeflate(negotiation.agreement, role, role === 'client' && offerHint(negotiation));
  }
  peer.start(head);
  const budget = setTimeout(
    () => {
      peer.wasNotCleanReason = `case still running after its budget of ${spec.budgetSeconds ?? 10} s`;
      peer.dropConnection(true);
    },
    (spec.budgetSeconds ?? 10) * timing.second,
  );
  try {
    spec.onOpen(run);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return run.done.finally(() => clearTimeout(budget));
}

/** The offer we (as client) made and the server accepted included client_no_context_takeover. */
function offerHint(n: Negotiation): boolean {
  if (n.offer === null || n.acceptedOffer === 0) return false;
  const offer = parseExtensions(n.offer)[n.acceptedOffer - 1];
  return offer?.params.some(([k]) => k === 'client_no_context_takeover') === true;
}

/** Autobahn fuzzingclient: run one case against the WebSocket server at `url`. */
export async function runCaseAgainstServer(
  spec: ConformanceCase,
  url: string,
  timing: Timing = DEFAULT_TIMING,
  options: RunOptions = {},
): Promise<CaseResult> {
  const started = Date.now();
  const target = new URL(url);
  const socket = netConnect({ host: target.hostname, port: Number(target.port) });
  socket.on('error', () => undefined);
  try {
    await once(socket, 'connect');
    const offer = spec.deflate?.offer ?? null;
    const { rest, extensions } = await clientHandshakeOffering(socket, target, HANDSHAKE_TIMEOUT_MS, offer);
    const negotiation = spec.deflate === undefined ? null : judgeNegotiation(offer, extensions);
    return await runOnSocket(spec, socket, 'client', rest, timing, negotiation, options);
  } catch (error) {
    socket.destroy();
    return handshakeFailure(spec, error, started);
  }
}

interface Pending {
  spec: ConformanceCase;
  options: RunOptions;
  started: number;
  resolve(result: CaseResult): void;
}

/**
 * Autobahn fuzzingserver: a TCP server that runs the case named in the request URL
 * (`/runCase?case=<id>&run=<n>`) against whichever client connects there.
 */
export class FuzzingServer {
  private readonly server: Server;
  private readonly pending = new Map<string, Pending>();
  private nextRun = 1;
  private port = 0;

  constructor(private readonly timing: Timing = DEFAULT_TIMING) {
    this.server = createServer((socket) => void this.accept(socket));
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    this.port = address.port;
  }

  /**
   * Register a run of `spec`; returns the URL a client must connect to and the verdict, which settles
   * once that connection is gone.
   */
  expect(
    spec: ConformanceCase,
    agent = 'conduit',
    options: RunOptions = {},
  ): { url: string; result: Promise<CaseResult> } {
    const run = String(this.nextRun++);
    const result = new Promise<CaseResult>((resolve) => {
      this.pending.set(run, { spec, options, started: Date.now(), resolve });
    });
    const query = new URLSearchParams({ case: spec.id, run, agent });
    return { url: `ws://127.0.0.1:${this.port}/runCase?${query}`, result };
  }

  /** Settle a registered run that no client connected to (the client failed before its handshake). */
  abandon(url: string, reason: string): void {
    const run = new URL(url).searchParams.get('run') ?? '';
    const pending = this.pending.get(run);
    if (pending === undefined) return;
    this.pending.delete(run);
    pending.resolve(handshakeFailure(pending.spec, new Error(reason), pending.started));
  }

  async close(): Promise<void> {
    for (const [run, pending] of this.pending) {
      this.pending.delete(run);
      pending.resolve(handshakeFailure(pending.spec, new Error('fuzzing server closed'), pending.started));
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async accept(socket: Socket): Promise<void> {
    socket.on('error', () => undefined);
    let accepted: Awaited<ReturnType<typeof serverHandshake>>;
    const runOf = (target: string | null) => new URL(target ?? '/', 'ws://x').searchParams.get('run') ?? '';
    try {
      accepted = await serverHandshake(socket, HANDSHAKE_TIMEOUT_MS, (target, offer) => {
        const deflate = this.pending.get(runOf(target))?.spec.deflate;
        return deflate === undefined ? null : deflate.respond(offer);
      });
    } catch {
      // No request head: we cannot tell which run this was; the test's timeout reports it.
      socket.destroy();
      return;
    }
    const run = runOf(accepted.target);
    const pending = this.pending.get(run);
    if (pending === undefined) {
      socket.destroy();
      return;
    }
    this.pending.delete(run);
    if (accepted.problems.length > 0) {
      pending.resolve(
        handshakeFailure(pending.spec, new Error(accepted.problems.join('; ')), pending.started),
      );
      return;
    }
    const negotiation =
      pending.spec.deflate === undefined ? null : judgeNegotiation(accepted.offer, accepted.response);
    try {
      pending.resolve(
        await runOnSocket(
          pending.spec,
          socket,
          'server',
          accepted.rest,
          this.timing,
          negotiation,
          pending.options,
        ),
      );
    } catch (error) {
      pending.resolve(handshakeFailure(pending.spec, error, pending.started));
    }
  }
}
