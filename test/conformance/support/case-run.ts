/**
 * One run of one case, judged the way Autobahn's `Case` class judges it (autobahntestsuite/case/case.py):
 * the events received must equal one of the expected lists (OK, or NON-STRICT where the case allows a
 * weaker behaviour), and the close must match `expectedClose` (who started it, clean or not, the code).
 *
 * On top of Autobahn's verdict we apply a few stricter rules, reported separately so a run can still be
 * compared with the real suite:
 * - an endpoint that fails the connection must say why: a close frame with one of the expected codes
 *   (Autobahn also accepts a silent TCP drop);
 * - a server must close TCP with a FIN once the close frames have crossed (not leave it to us, not reset);
 * - a client must let the server close TCP after a normal closing handshake (RFC 6455 7.1.1 SHOULD);
 * - anything the endpoint sends that breaks RFC 6455 (masking, UTF-8, close codes...) fails the case.
 */
import type { Negotiation } from './deflate.js';
import type { FuzzPeer, PeerEvent, PeerHooks } from './peer.js';

export type Behavior =
  | 'OK'
  | 'NON-STRICT'
  | 'FAILED'
  | 'WRONG CODE'
  | 'UNCLEAN'
  | 'FAILED BY CLIENT'
  | 'INFORMATIONAL';

export interface ExpectedClose {
  /** We (the conformance peer) are the one expected to send the first close frame. */
  closedByMe: boolean;
  /** Close codes accepted from the endpoint under test (none received is also accepted by Autobahn). */
  closeCode: number[];
  /** The closing handshake must complete and the server must close TCP. */
  requireClean: boolean;
  /**
   * The endpoint may fail the connection by closing TCP without a close frame: a client refusing the
   * server's handshake response (RFC 6455 4.1: the WebSocket connection is never established).
   */
  allowDrop?: boolean;
}

export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_INVALID_PAYLOAD = 1007;
export const CLOSE_MESSAGE_TOO_BIG = 1009;

export const message = (data: Buffer | string, binary = false): PeerEvent => ({
  kind: 'message',
  data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
  binary,
});
export const pong = (data: Buffer | string = ''): PeerEvent => ({
  kind: 'pong',
  data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
});
export const timeout = (tag: string): PeerEvent => ({ kind: 'timeout', tag });

export interface ConformanceCase {
  /** Autobahn's case number, e.g. '6.4.1'. */
  id: string;
  description: string;
  /** What Autobahn's `onOpen` does: set expectations, send, schedule. */
  onOpen(t: CaseRun): void;
  /** Autobahn reports the outcome as INFORMATIONAL (7.1.6, 7.13.x); we still require a proper close. */
  informational?: boolean;
  /** Longest the case may take before it is abandoned, in Autobahn seconds (default 10). */
  budgetSeconds?: number;
  /** Only for this endpoint under test (default both): 'server' = run by the fuzzing client. */
  side?: 'server' | 'client';
  /** permessage-deflate negotiation (sections 12 and 13); without it, no extension is offered or agreed. */
  deflate?: DeflateSpec;
}

export interface DeflateSpec {
  /** Testing a server: the Sec-WebSocket-Extensions the fuzzing client offers. */
  offer: string;
  /** Testing a client: what the fuzzing server answers to the client's offers (null: no extension). */
  respond(offer: string | null): string | null;
}

export interface CaseResult {
  id: string;
  description: string;
  /** Autobahn's verdict on the events (the report's headline). */
  behavior: Behavior;
  /** Autobahn's verdict on the close. */
  behaviorClose: Behavior;
  /** Why, in Autobahn's words. */
  result: string;
  resultClose: string;
  /** Our stricter rules that failed (empty when none). */
  strictFailures: string[];
  /** OK under our rules: Autobahn OK (or INFORMATIONAL) on both counts and no strict failure. */
  passed: boolean;
  received: PeerEvent[];
  closedByMe: boolean;
  droppedByMe: boolean;
  wasClean: boolean;
  wasNotCleanReason: string | null;
  remoteCloseCode: number | null;
  remoteCloseReason: string | null;
  violation: string | null;
  /** permessage-deflate: what was offered, answered and agreed (deflate cases only). */
  negotiation: string | null;
  durationMs: number;
}

export class CaseRun implements PeerHooks {
  p!: FuzzPeer;
  readonly received: PeerEvent[] = [];
  readonly expected = new Map<Behavior, PeerEvent[]>();
  expectedClose: ExpectedClose = { closedByMe: true, closeCode: [CLOSE_NORMAL], requireClean: true };
  /** Do not start the closing handshake once the expected events are in (cases that close by hand). */
  suppressClose = false;
  /** 7.x: a close code outside the expected set fails the events verdict too. */
  wrongCodeFailsCase = false;
  /** Set by cases that judge messages themselves (9.x). */
  behavior: Behavior = 'FAILED';
  result = 'Actual events differ from any expected.';
  /** Cases that override onMessage set this to decide the behaviour themselves. */
  selfJudged = false;
  /** permessage-deflate negotiation as judged by the peer (deflate cases; set before onOpen). */
  negotiation: Negotiation | null = null;
  /**
   * The endpoint is configured to compress every message of at least this many bytes (null: unknown):
   * a deflate case then requires its echoes compressed, so compression is exercised both ways.
   */
  compressThreshold: number | null = null;
  /** Stricter-rule failures found by the case itself (reported with the others). */
  readonly caseStrictFailures: string[] = [];
  /** Set at run time by a case whose outcome the RFC leaves open (reported INFORMATIONAL). */
  informational = false;
  /** Runs first when the connection is gone, for cases that judge how it ended. */
  beforeVerdict: (() => void) | null = null;
  private readonly started = Date.now();
  private finish: ((result: CaseResult) => void) | null = null;
  readonly done: Promise<CaseResult>;

  constructor(readonly spec: ConformanceCase) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  /** Overridable per case (Autobahn cases replace onMessage in section 9). */
  messageHandler: ((data: Buffer, binary: boolean, compressed: boolean) => void) | null = null;

  onMessage(data: Buffer, binary: boolean, compressed: boolean): void {
    if (this.messageHandler !== null) {
      this.messageHandler(data, binary, compressed);
      return;
    }
    this.received.push({ kind: 'message', data, binary });
    this.finishWhenDone();
  }

  onPing(data: Buffer): void {
    this.received.push({ kind: 'ping', data });
    this.finishWhenDone();
  }

  onPong(data: Buffer): void {
    this.received.push({ kind: 'pong', data });
    this.finishWhenDone();
  }

  /** Autobahn: once the events match every expected list, start the closing handshake if it is ours. */
  finishWhenDone(): void {
    for (const events of this.expected.values()) if (!sameEvents(this.received, events)) return;
    if (this.expectedClose.closedByMe && !this.suppressClose)
      this.p.sendClose(this.expectedClose.closeCode[0]);
  }

  /**
   * Autobahn `continueLater`, for the waits inside a case (the fail-fast probes of 6.4.x): runs `fn`
   * after `timing.pause` ms and after pending I/O was processed. Checking the state is `fn`'s business.
   */
  continueLater(fn: () => void): void {
    this.p.later(this.p.timing.pause, fn);
  }

  onConnectionLost(): void {
    const p = this.p;
    this.beforeVerdict?.();
    if (!this.selfJudged) {
      for (const [behavior, events] of this.expected) {
        if (sameEvents(this.received, events)) {
          this.behavior = behavior;
          this.result = 'Actual events match at least one expected.';
          break;
        }
      }
    }
    const ec = this.expectedClose;
    let behaviorClose: Behavior;
    let resultClose: string;
    if (ec.closedByMe !== p.closedByMe) {
      behaviorClose = 'FAILED';
      resultClose = 'The connection was failed by the wrong endpoint';
    } else if (ec.requireClean && !p.wasClean) {
      behaviorClose = 'UNCLEAN';
      resultClose = `The spec requires the connection to be failed cleanly here (${p.wasNotCleanReason ?? 'unclean'})`;
    } else if (p.remoteCloseCode !== null && !ec.closeCode.includes(p.remoteCloseCode)) {
      behaviorClose = 'WRONG CODE';
      resultClose = `The close code should have been ${ec.closeCode.join(',')} or empty`;
    } else if (p.role === 'client' && p.droppedByMe) {
      behaviorClose = 'FAILED BY CLIENT';
      resultClose = 'It is preferred that the server close the TCP connection';
    } else {
      behaviorClose = 'OK';
      resultClose = 'Connection was properly closed';
    }
    if (this.wrongCodeFailsCase && behaviorClose === 'WRONG CODE') {
      this.behavior = 'FAILED';
      this.result = resultClose;
    }
    if (this.spec.informational || (this.informational && this.behavior === 'OK')) {
      this.behavior = 'INFORMATIONAL';
    }

    const strictFailures: string[] = [...this.caseStrictFailures];
    if (p.violation !== null) strictFailures.push(`the endpoint broke the protocol: ${p.violation}`);
    const failureExpected = !ec.closeCode.includes(CLOSE_NORMAL);
    if (failureExpected && p.remoteCloseCode === null && ec.allowDrop !== true) {
      strictFailures.push(
        `no close frame with a status code (expected ${ec.closeCode.join(' or ')}); Autobahn would accept a TCP drop`,
      );
    }
    if (p.role === 'client' && p.closeReceived && !p.droppedByMe && !p.peerSentFin) {
      strictFailures.push(
        `the server ended the TCP connection without a FIN (${p.socketErrors.join(', ') || 'reset'})`,
      );
    }
    if (p.role === 'server' && ec.requireClean && p.peerEndedFirst) {
      strictFailures.push(
        'the client closed TCP before the server did (RFC 6455 7.1.1: the client SHOULD wait)',
      );
    }
    const behaviorOk = this.behavior === 'OK' || this.behavior === 'INFORMATIONAL';
    this.finish?.({
      id: this.spec.id,
      description: this.spec.description,
      behavior: this.behavior,
      behaviorClose,
      result: this.result,
      resultClose,
      strictFailures,
      passed: behaviorOk && behaviorClose === 'OK' && strictFailures.length === 0,
      received: this.received,
      closedByMe: p.closedByMe,
      droppedByMe: p.droppedByMe,
      wasClean: p.wasClean,
      wasNotCleanReason: p.wasNotCleanReason,
      remoteCloseCode: p.remoteCloseCode,
      remoteCloseReason: p.remoteCloseReason === null ? null : p.remoteCloseReason.toString('utf8'),
      violation: p.violation,
      negotiation: describeNegotiation(this.negotiation),
      durationMs: Date.now() - this.started,
    });
    this.finish = null;
  }
}

export function sameEvents(a: readonly PeerEvent[], b: readonly PeerEvent[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.kind !== y.kind) return false;
    if (x.kind === 'timeout' && y.kind === 'timeout') {
      if (x.tag !== y.tag) return false;
    } else if (x.kind !== 'timeout' && y.kind !== 'timeout') {
      if (!x.data.equals(y.data)) return false;
      if (x.kind === 'message' && y.kind === 'message' && x.binary !== y.binary) return false;
    }
  }
  return true;
}

/** A short, readable account of events (payloads over 40 bytes summarized). */
export function describeEvents(events: readonly PeerEvent[]): string {
  if (events.length === 0) return '[]';
  return `[${events
    .map((e) => {
      if (e.kind === 'timeout') return `timeout ${e.tag}`;
      const label = e.kind === 'message' ? (e.binary ? 'binary' : 'text') : e.kind;
      const data = e.data;
      const shown =
        data.length <= 40
          ? e.kind === 'message' && !e.binary
            ? JSON.stringify(data.toString('utf8'))
            : `0x${data.toString('hex')}`
          : `${data.length} bytes`;
      return `${label} ${shown}`;
    })
    .join(', ')}]`;
}

export function describeNegotiation(n: Negotiation | null): string | null {
  if (n === null) return null;
  const agreed =
    n.agreement === null
      ? 'nothing agreed'
      : `agreed (offer ${n.acceptedOffer}): ${Object.entries(n.agreement)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`;
  return `offer "${n.offer ?? ''}" / response "${n.response ?? ''}" / ${n.problem === null ? agreed : `refused: ${n.problem}`}`;
}

export function describeResult(r: CaseResult): string {
  const lines = [
    `case ${r.id}: ${r.description}`,
    `  behavior: ${r.behavior} (${r.result})`,
    `  close:    ${r.behaviorClose} (${r.resultClose})`,
    `  received: ${describeEvents(r.received)}`,
    `  close code from endpoint: ${r.remoteCloseCode ?? 'none'}${r.remoteCloseReason ? ` "${r.remoteCloseReason}"` : ''}; closedByMe=${r.closedByMe} droppedByMe=${r.droppedByMe} wasClean=${r.wasClean}`,
  ];
  if (r.negotiation !== null) lines.push(`  deflate:  ${r.negotiation}`);
  for (const s of r.strictFailures) lines.push(`  strict:   ${s}`);
  return lines.join('\n');
}
