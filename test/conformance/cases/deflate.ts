/**
 * permessage-deflate (RFC 7692), after Autobahn's sections 12 and 13 (autobahntestsuite/case/
 * case12_x_x.py), for both roles, plus probes of our own:
 *
 * - 12.1-12.5 "WebSocket Compression (different payloads)": five kinds of payload (deflate-payloads.ts)
 *   at Autobahn's 18 sizes and auto-fragment sizes, echoed compressed both ways. Autobahn sends 1000
 *   messages one at a time; here a bounded number (about 128 KiB per case, at most 1000 messages) with
 *   8 in flight, so ordering across Conduit's asynchronous compression queues is exercised as well.
 * - 13.1-13.20 "WebSocket Compression (different parameters)": one parameter set per group: what the
 *   fuzzing client offers when testing a server, and what the fuzzing server answers when testing a
 *   client. Each runs the JSON payload at 6 of Autobahn's sizes.
 * - x.12.n: compressed framing beyond Autobahn: the examples of RFC 7692 section 7.2.3 byte for byte,
 *   BFINAL=1 blocks, empty messages, extreme fragmentation, RSV1 where it is not allowed, invalid DEFLATE
 *   data, a compression bomb, back-references across messages.
 * - x.13.n: negotiation beyond Autobahn: offers a server must decline, responses a client must refuse.
 *
 * Every compressed message the endpoint sends is inflated by the peer with node:zlib under the agreed
 * parameters (support/deflate.ts), so a back-reference that the agreement forbids (no context takeover,
 * a smaller window) is a protocol violation, as is RSV1 anywhere but on a data message's first frame.
 */
import { isUtf8 } from 'node:buffer';
import {
  type CaseRun,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_MESSAGE_TOO_BIG,
  CLOSE_NORMAL,
  CLOSE_PROTOCOL_ERROR,
  type ConformanceCase,
  type DeflateSpec,
  message,
  pong,
} from '../support/case-run.js';
import {
  type ExtElement,
  firstDeflateOffer,
  formatElement,
  minimalResponse,
  type ParamValue,
  PMD,
} from '../support/deflate.js';
import { Opcode } from '../support/wire.js';
import { PAYLOAD_KINDS, type PayloadKind, PayloadStream } from './deflate-payloads.js';

const KiB = 1024;

/** What a browser offers (and ws, and Conduit's client by default). */
export const DEFAULT_OFFER = `${PMD}; client_max_window_bits`;

/** Accept the client's first permessage-deflate offer as it is (no offer: answer nothing). */
const acceptAsOffered = (offer: string | null): string | null => {
  const o = firstDeflateOffer(offer);
  return o === null ? null : formatElement(minimalResponse(o));
};

const DEFAULT_DEFLATE: DeflateSpec = { offer: DEFAULT_OFFER, respond: acceptAsOffered };

// Running an echo stream ----------------------------------------------------------------------------

interface EchoStream {
  payload: PayloadStream;
  count: number;
  /** Messages sent ahead of their echoes. */
  inFlight: number;
  /** Split each (compressed) message into frames of this many bytes (Autobahn's auto-fragment). */
  fragmentSize: number;
}

/** Autobahn's 12.x message counts are 1000; we bound the bytes per case instead (and keep >= 2). */
function countFor(size: number, budget: number, max: number): number {
  return Math.max(2, Math.min(max, Math.floor(budget / size)));
}

const size = (n: number) => (n >= KiB ? `${n / KiB} KiB` : `${n} B`);

/**
 * Send `count` messages, `inFlight` at a time, compressed when permessage-deflate was agreed, and
 * check every echo: same type, same bytes, same order. Then close.
 */
function runEchoStream(t: CaseRun, s: EchoStream): void {
  const binary = s.payload.kind.binary;
  const sent: Buffer[] = [];
  let sentCount = 0;
  let received = 0;
  let compressedEchoes = 0;
  let plainOverThreshold = 0;
  const deflate = t.p.deflate;
  t.selfJudged = true;
  t.behavior = 'FAILED';
  t.result = 'Did not receive all echoes in time.';
  t.expectedClose = { closedByMe: true, closeCode: [CLOSE_NORMAL], requireClean: true };
  const sendOne = () => {
    const payload = s.payload.next();
    sent.push(payload);
    sentCount++;
    if (deflate !== null) {
      t.p.sendCompressedMessage(payload, binary, { fragmentSize: s.fragmentSize });
    } else {
      t.p.sendMessage(payload, binary, s.fragmentSize > 0 ? s.fragmentSize : undefined);
    }
  };
  const fail = (why: string) => {
    t.behavior = 'FAILED';
    t.result = why;
    t.p.sendClose(CLOSE_NORMAL);
  };
  t.messageHandler = (data, isBinary, compressed) => {
    if (t.behavior !== 'FAILED' || t.p.state !== 'open') return;
    const expected = sent.shift();
    const n = received++;
    if (expected === undefined)
      return fail(`Echo ${n + 1} arrived, but only ${sentCount} messages were sent.`);
    if (isBinary !== binary)
      return fail(
        `Echo ${n + 1} is ${isBinary ? 'binary' : 'text'}, ${binary ? 'binary' : 'text'} was sent.`,
      );
    if (!data.equals(expected)) {
      return fail(
        `Echo ${n + 1} differs from message ${n + 1} (${data.length} bytes received, ${expected.length} sent)` +
          ` (out of order or corrupted).`,
      );
    }
    if (compressed) compressedEchoes++;
    else if (t.compressThreshold !== null && deflate !== null && data.length >= t.compressThreshold)
      plainOverThreshold++;
    if (sentCount < s.count) sendOne();
    if (received < s.count) return;
    t.behavior = 'OK';
    t.result =
      `Received all ${s.count} echoes in order, ${compressedEchoes} of them compressed` +
      (deflate === null ? ' (permessage-deflate not agreed: sent uncompressed).' : '.');
    if (plainOverThreshold > 0) {
      t.caseStrictFailures.push(
        `${plainOverThreshold} echoes of at least ${t.compressThreshold} bytes came back uncompressed, ` +
          'although the endpoint is configured to compress them',
      );
    }
    t.p.sendClose(CLOSE_NORMAL);
  };
  for (let i = 0; i < Math.min(s.inFlight, s.count); i++) sendOne();
  t.p.closeAfter(20);
}

// Negotiation verdicts ------------------------------------------------------------------------------

/** What the server under test may do with the offer: accept it, decline it, or either (RFC allows). */
type ServerExpect = 'accept' | 'decline' | 'either';
/** 'must': a legal response must be accepted; 'may': the client may also refuse it (RFC 7692 s. 7). */
type ClientExpect = 'must' | 'may';

/**
 * Judge the negotiation before the case starts. Returns whether to go on (and then whether messages
 * are compressed: `t.p.deflate`), or false when the verdict is already set.
 */
function negotiated(t: CaseRun, serverExpect: ServerExpect, clientExpect: ClientExpect = 'must'): boolean {
  const n = t.negotiation;
  if (n === null) throw new Error(`${t.spec.id}: a deflate case without negotiation`);
  if (t.p.role === 'client') {
    // Testing a server.
    if (n.problem !== null) {
      t.selfJudged = true;
      t.behavior = 'FAILED';
      t.result = `The server's Sec-WebSocket-Extensions is not a legal answer to the offer: ${n.problem}.`;
      t.expectedClose = { closedByMe: true, closeCode: [CLOSE_PROTOCOL_ERROR], requireClean: false };
      // RFC 7692 section 7: the client fails the connection.
      t.p.sendClose(CLOSE_PROTOCOL_ERROR);
      t.p.killAfter(1);
      return false;
    }
    if (n.agreement === null && serverExpect === 'accept') {
      t.selfJudged = true;
      t.behavior = 'FAILED';
      t.result = 'The server declined a valid offer it supports (Autobahn reports UNIMPLEMENTED).';
      t.p.sendClose(CLOSE_NORMAL);
      t.p.closeAfter(1);
      return false;
    }
    if (n.agreement !== null && serverExpect === 'decline') {
      t.selfJudged = true;
      t.behavior = 'FAILED';
      t.result = `The server accepted offer ${n.acceptedOffer}, which RFC 7692 section 7 requires it to decline.`;
      t.p.sendClose(CLOSE_NORMAL);
      t.p.closeAfter(1);
      return false;
    }
    if (n.agreement === null && serverExpect === 'either') t.informational = true;
    return true;
  }
  // Testing a client.
  if (n.problem !== null) {
    expectRefusal(t, n.problem);
    return false;
  }
  // A legal response: the client must go on (or, 'may', it may fail the connection).
  t.beforeVerdict = () => {
    const p = t.p;
    if (t.received.length > 0 || p.droppedByMe || p.closeReceived) return;
    const why = 'the client closed the connection right after the 101, on a legal response';
    if (clientExpect === 'may') {
      t.informational = true;
      t.behavior = 'OK';
      t.result = `${why}: RFC 7692 section 7 lets a client refuse a configuration it does not support.`;
      t.expectedClose = { closedByMe: false, closeCode: [], requireClean: false, allowDrop: true };
    } else {
      t.behavior = 'FAILED';
      t.result = `${why[0]!.toUpperCase()}${why.slice(1)} (RFC 7692 allows it).`;
    }
  };
  return true;
}

/**
 * Testing a client that got a response it must refuse (RFC 7692 section 7, RFC 6455 section 4.1): it
 * must fail the connection, i.e. close TCP (a close frame with 1002 or 1010 is accepted too), and never
 * use it. We send nothing and wait.
 */
function expectRefusal(t: CaseRun, problem: string): void {
  t.selfJudged = true;
  t.behavior = 'FAILED';
  t.result = `The client used the connection although the response is not acceptable: ${problem}.`;
  t.expectedClose = {
    closedByMe: false,
    closeCode: [CLOSE_PROTOCOL_ERROR, 1010],
    requireClean: false,
    allowDrop: true,
  };
  t.beforeVerdict = () => {
    if (t.received.length === 0 && !t.p.droppedByMe) {
      t.behavior = 'OK';
      t.result = `The client failed the connection as it must: ${problem}.`;
    }
  };
  t.p.killAfter(2);
}

// Section 12 ----------------------------------------------------------------------------------------

/** Autobahn's MSG_SIZES: (payload length, auto-fragment size). */
const MSG_SIZES: ReadonlyArray<readonly [number, number]> = [
  [16, 0],
  [64, 0],
  [256, 0],
  [1024, 0],
  [4096, 0],
  [8192, 0],
  [16384, 0],
  [32768, 0],
  [65536, 0],
  [131072, 0],
  [8192, 256],
  [16384, 256],
  [32768, 256],
  [65536, 256],
  [131072, 256],
  [131072, 1024],
  [131072, 4096],
  [131072, 32768],
];

const BUDGET_12 = 64 * KiB;
const MAX_COUNT_12 = 100;
const IN_FLIGHT = 8;

function describeStream(count: number, n: number, fragment: number, what: string): string {
  const frag = fragment > 0 ? `, auto-fragmented to ${fragment} octets` : '';
  return `Send ${count} compressed messages of ${size(n)}${frag}, ${IN_FLIGHT} in flight, ${what}`;
}

function section12(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  PAYLOAD_KINDS.forEach((kind, k) => {
    MSG_SIZES.forEach(([n, fragment], i) => {
      const count = countFor(n, BUDGET_12, MAX_COUNT_12);
      cases.push({
        id: `12.${k + 1}.${i + 1}`,
        description: describeStream(
          count,
          n,
          fragment,
          `${kind.title}. Default offer / accepted as offered.`,
        ),
        budgetSeconds: 30,
        deflate: DEFAULT_DEFLATE,
        onOpen: (t) => {
          if (!negotiated(t, 'accept')) return;
          runEchoStream(t, {
            payload: new PayloadStream(kind, n),
            count,
            inFlight: IN_FLIGHT,
            fragmentSize: fragment,
          });
        },
      });
    });
  });
  return cases;
}

export const SECTION12_TITLES = PAYLOAD_KINDS.map((k) => k.title);

// Section 13 ----------------------------------------------------------------------------------------

/** Parameters added to (or replacing those of) the minimal legal response to the client's offer. */
type Extra = ReadonlyArray<readonly [string, ParamValue]>;

function responseWith(offer: ExtElement | null, extra: Extra): ExtElement {
  const base = minimalResponse(offer);
  const params = base.params.filter(([k]) => !extra.some(([e]) => e === k));
  return { name: PMD, params: [...params, ...extra.map(([k, v]): [string, ParamValue] => [k, v])] };
}

/** The response, unless the client did not offer permessage-deflate (then none). */
function respondWith(extra: Extra | ((offer: ExtElement) => Extra)): (offer: string | null) => string | null {
  return (header) => {
    const offer = firstDeflateOffer(header);
    if (offer === null) return null;
    return formatElement(responseWith(offer, typeof extra === 'function' ? extra(offer) : extra));
  };
}

const param = (offer: ExtElement, name: string): ParamValue | undefined =>
  offer.params.find(([k]) => k === name)?.[1];

export interface ParamSet {
  /** Testing a server: the offer, as a header value. */
  offer: string;
  serverExpect: ServerExpect;
  /** Testing a client: the response, described, and built from the client's offer. */
  responseTitle: string;
  respond: (offer: string | null) => string | null;
  clientExpect?: ClientExpect;
}

const NCT_S = ['server_no_context_takeover', true] as const;
const NCT_C = ['client_no_context_takeover', true] as const;

export const PARAM_SETS: readonly ParamSet[] = [
  {
    offer: PMD,
    serverExpect: 'accept',
    responseTitle: 'accepted as offered',
    respond: respondWith([]),
  },
  {
    offer: `${PMD}; client_no_context_takeover`,
    serverExpect: 'accept',
    responseTitle: 'client_no_context_takeover imposed by the server',
    respond: respondWith([NCT_C]),
  },
  {
    offer: `${PMD}; server_no_context_takeover`,
    serverExpect: 'accept',
    responseTitle: 'server_no_context_takeover added by the server',
    respond: respondWith([NCT_S]),
  },
  {
    offer: `${PMD}; client_no_context_takeover; server_no_context_takeover`,
    serverExpect: 'accept',
    responseTitle: 'server_no_context_takeover; client_no_context_takeover',
    respond: respondWith([NCT_S, NCT_C]),
  },
  {
    offer: `${PMD}; client_max_window_bits`,
    serverExpect: 'accept',
    responseTitle: 'client_max_window_bits=15',
    respond: respondWith([['client_max_window_bits', '15']]),
  },
  {
    offer: `${PMD}; client_max_window_bits=9`,
    serverExpect: 'accept',
    responseTitle: 'client_max_window_bits=9',
    respond: respondWith([['client_max_window_bits', '9']]),
  },
  {
    offer: `${PMD}; client_max_window_bits=12`,
    serverExpect: 'accept',
    responseTitle: 'client_max_window_bits=12',
    respond: respondWith([['client_max_window_bits', '12']]),
  },
  ...[9, 10, 11, 12, 13, 14, 15].map(
    (bits): ParamSet => ({
      offer: `${PMD}; server_max_window_bits=${bits}`,
      serverExpect: 'accept',
      responseTitle: `server_max_window_bits=${bits}`,
      respond: respondWith([['server_max_window_bits', String(bits)]]),
    }),
  ),
  {
    // zlib cannot allocate a 256-byte compression window: declining is what RFC 7692 section 7 allows
    // ("the server doesn't support the offered configuration"). A client can always inflate it.
    offer: `${PMD}; server_max_window_bits=8`,
    serverExpect: 'either',
    responseTitle: 'server_max_window_bits=8',
    respond: respondWith([['server_max_window_bits', '8']]),
  },
  {
    // The server only inflates with the client's window: any inflater can. A client that cannot compress
    // with 256 bytes may refuse the response (RFC 7692 section 7).
    offer: `${PMD}; client_max_window_bits=8`,
    serverExpect: 'either',
    responseTitle: 'client_max_window_bits=8',
    respond: respondWith([['client_max_window_bits', '8']]),
    clientExpect: 'may',
  },
  {
    offer: `${PMD}; client_max_window_bits=8, ${PMD}; client_max_window_bits`,
    serverExpect: 'accept',
    responseTitle: 'window bits lower than offered (server_max_window_bits, client_max_window_bits)',
    respond: respondWith((offer) => {
      const extra: Array<readonly [string, ParamValue]> = [];
      const s = param(offer, 'server_max_window_bits');
      extra.push(['server_max_window_bits', String(typeof s === 'string' ? Math.max(9, Number(s) - 1) : 10)]);
      const c = param(offer, 'client_max_window_bits');
      if (c !== undefined)
        extra.push(['client_max_window_bits', String(c === true ? 10 : Math.max(9, Number(c) - 1))]);
      return extra;
    }),
  },
  {
    // Autobahn 13.7's offers: the first cannot be honoured by zlib, the second can.
    offer: `${PMD}; server_no_context_takeover; server_max_window_bits=8, ${PMD}; server_no_context_takeover, ${PMD}`,
    serverExpect: 'accept',
    responseTitle: 'no context takeover both ways, server_max_window_bits=9',
    respond: respondWith([NCT_S, NCT_C, ['server_max_window_bits', '9']]),
  },
  {
    offer: `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9`,
    serverExpect: 'accept',
    responseTitle: 'every parameter, windows of 9 bits',
    respond: respondWith((offer) => [
      NCT_S,
      NCT_C,
      ['server_max_window_bits', '9'],
      ...(param(offer, 'client_max_window_bits') === undefined
        ? []
        : [['client_max_window_bits', '9'] as const]),
    ]),
  },
  {
    // RFC 6455 section 9.1: a parameter value may be a quoted-string (its content a token).
    offer: `${PMD}; server_max_window_bits="10"; client_max_window_bits="11"`,
    serverExpect: 'accept',
    responseTitle: 'quoted values: server_max_window_bits="10"; client_max_window_bits="11"',
    respond: (header) => {
      const offer = firstDeflateOffer(header);
      if (offer === null) return null;
      const base = formatElement(
        responseWith(offer, [
          [
            'server_max_window_bits',
            String(Math.min(10, Number(param(offer, 'server_max_window_bits') ?? 15))),
          ],
        ]),
      ).replace(/server_max_window_bits=(\d+)/, 'server_max_window_bits="$1"');
      return param(offer, 'client_max_window_bits') === undefined
        ? base
        : `${base}; client_max_window_bits="11"`;
    },
  },
];

/** Sizes for section 13 (the JSON payload, as Autobahn's 13.x use its JSON file). */
const SIZES_13: ReadonlyArray<readonly [number, number]> = [
  [16, 0],
  [256, 0],
  [4096, 0],
  [32768, 0],
  [131072, 0],
  [131072, 4096],
];
const BUDGET_13 = 32 * KiB;
const MAX_COUNT_13 = 50;
const JSON_KIND: PayloadKind = PAYLOAD_KINDS[1]!;

function section13(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  PARAM_SETS.forEach((set, j) => {
    SIZES_13.forEach(([n, fragment], i) => {
      const count = countFor(n, BUDGET_13, MAX_COUNT_13);
      cases.push({
        id: `13.${j + 1}.${i + 1}`,
        description: describeStream(
          count,
          n,
          fragment,
          `JSON. Offer "${set.offer}" / response ${set.responseTitle}.`,
        ),
        budgetSeconds: 30,
        deflate: { offer: set.offer, respond: set.respond },
        onOpen: (t) => {
          if (!negotiated(t, set.serverExpect, set.clientExpect)) return;
          runEchoStream(t, {
            payload: new PayloadStream(JSON_KIND, n),
            count,
            inFlight: IN_FLIGHT,
            fragmentSize: fragment,
          });
        },
      });
    });
  });
  return cases;
}

export function section13Title(j: number): string {
  const set = PARAM_SETS[j]!;
  return `offer "${set.offer}" / response ${set.responseTitle}`;
}

// x.12: compressed framing probes -----------------------------------------------------------------

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** RFC 7692 section 7.2.3: the payloads of its examples. */
const RFC_HELLO = hex('f2 48 cd c9 c9 07 00');
const RFC_HELLO_SHARED = hex('f2 00 11 00 00');
const RFC_HELLO_STORED = hex('00 05 00 fa ff 48 65 6c 6c 6f 00');
const RFC_HELLO_BFINAL = hex('f3 48 cd c9 c9 07 00 00');
const RFC_HELLO_TWO_BLOCKS = hex('f2 48 05 00 00 00 ff ff ca c9 c9 07 00');

const OURS_NORMAL = { closedByMe: true, closeCode: [CLOSE_NORMAL], requireClean: true };

function probe(
  id: string,
  description: string,
  onOpen: (t: CaseRun) => void,
  extra: Partial<ConformanceCase> = {},
): ConformanceCase {
  return {
    id,
    description,
    deflate: DEFAULT_DEFLATE,
    onOpen: (t) => {
      if (!negotiated(t, 'accept')) return;
      if (t.p.deflate === null) {
        t.selfJudged = true;
        t.behavior = 'FAILED';
        t.result = 'permessage-deflate was not agreed.';
        t.p.sendClose(CLOSE_NORMAL);
        return;
      }
      onOpen(t);
    },
    ...extra,
  };
}

type Event = ReturnType<typeof message | typeof pong>;

/**
 * Expect these events (Autobahn-style matching: the case closes once they are in); close as soon as
 * as many messages arrived as expected, matching or not, so a wrong echo fails fast.
 */
function expectEchoes(t: CaseRun, events: Event[], seconds = 2): void {
  t.expected.set('OK', events);
  t.expectedClose = OURS_NORMAL;
  const messages = events.filter((e) => e.kind === 'message').length;
  t.messageHandler = (data, binary) => {
    t.received.push({ kind: 'message', data, binary });
    t.finishWhenDone();
    if (t.received.filter((e) => e.kind === 'message').length >= messages) t.p.sendClose(CLOSE_NORMAL);
  };
  t.p.closeAfter(seconds);
}

/** The endpoint must fail the connection with one of `codes`. */
function expectFailure(t: CaseRun, codes: number[]): void {
  t.expected.set('OK', []);
  t.expectedClose = { closedByMe: false, closeCode: codes, requireClean: false };
  t.p.killAfter(2);
}

const json = (n: number, seed = 0): Buffer => {
  const s = new PayloadStream(JSON_KIND, n);
  for (let i = 0; i < seed; i++) s.next();
  return s.next();
};

function extra12(): ConformanceCase[] {
  const hello = Buffer.from('Hello');
  return [
    probe('x.12.1', 'RFC 7692 7.2.3.1: "Hello" in one compressed DEFLATE block, byte for byte', (t) => {
      expectEchoes(t, [message(hello)]);
      t.p.sendCompressedMessage(RFC_HELLO, false, { raw: true });
    }),
    probe(
      'x.12.2',
      'RFC 7692 7.2.3.2: "Hello" twice, the second sharing the LZ77 window (sent independently when context takeover is not agreed)',
      (t) => {
        expectEchoes(t, [message(hello), message(hello)]);
        t.p.sendCompressedMessage(RFC_HELLO, false, { raw: true });
        const shared = t.p.deflate!.contextTakeover;
        t.p.sendCompressedMessage(shared ? RFC_HELLO_SHARED : RFC_HELLO, false, { raw: true });
      },
    ),
    probe('x.12.3', 'RFC 7692 7.2.3.3: "Hello" in a DEFLATE block with no compression (stored)', (t) => {
      expectEchoes(t, [message(hello)]);
      t.p.sendCompressedMessage(RFC_HELLO_STORED, false, { raw: true });
    }),
    probe(
      'x.12.4',
      'RFC 7692 7.2.3.4: "Hello" in a DEFLATE block with BFINAL=1, then a compressed message that does not refer back',
      (t) => {
        const next = json(200);
        expectEchoes(t, [message(hello), message(next)]);
        t.p.sendCompressedMessage(RFC_HELLO_BFINAL, false, { raw: true });
        t.p.sendCompressedMessage(next, false, { fresh: true });
      },
    ),
    probe(
      'x.12.5',
      'A 2 KiB message ending with a BFINAL=1 block, then the same message compressed against it (context takeover; independent when not agreed)',
      (t) => {
        const data = json(2048);
        expectEchoes(t, [message(data), message(data), message(hello)]);
        t.p.sendCompressedMessage(data, false, { bfinal: true });
        t.p.sendCompressedMessage(data, false);
        t.p.sendCompressedMessage(hello, false);
      },
    ),
    probe(
      'x.12.6',
      'Three messages each ending with a BFINAL=1 block (context takeover across them when agreed)',
      (t) => {
        const a = json(1000, 1);
        const b = json(1000, 2);
        expectEchoes(t, [message(a), message(b), message(a)]);
        t.p.sendCompressedMessage(a, false, { bfinal: true });
        t.p.sendCompressedMessage(b, false, { bfinal: true });
        t.p.sendCompressedMessage(a, false, { bfinal: true });
      },
    ),
    probe('x.12.7', 'RFC 7692 7.2.3.5: "Hello" in two DEFLATE blocks in one message', (t) => {
      expectEchoes(t, [message(hello)]);
      t.p.sendCompressedMessage(RFC_HELLO_TWO_BLOCKS, false, { raw: true });
    }),
    probe(
      'x.12.8',
      'Empty messages compressed (payload 0x00, the empty stored block of 7.2.1), text and binary, then a 1 KiB one',
      (t) => {
        const after = json(1024);
        expectEchoes(t, [message(''), message(Buffer.alloc(0), true), message(after)]);
        t.p.sendCompressedMessage('', false);
        t.p.sendCompressedMessage(Buffer.alloc(0), true);
        t.p.sendCompressedMessage(after, false);
      },
    ),
    probe(
      'x.12.9',
      'A compressed message whose first frame is empty (RSV1, no payload, no FIN), the data in continuations',
      (t) => {
        const data = json(3000);
        const c = t.p.deflate!.compress(data);
        expectEchoes(t, [message(data)]);
        t.p.sendFrame({ opcode: Opcode.Text, rsv: 4, fin: false, payload: Buffer.alloc(0) });
        t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: c.subarray(0, 10) });
        t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: c.subarray(10) });
      },
    ),
    probe('x.12.10', 'A compressed message ending with an empty FIN continuation frame', (t) => {
      const data = json(3000);
      const c = t.p.deflate!.compress(data);
      expectEchoes(t, [message(data)]);
      t.p.sendFrame({ opcode: Opcode.Text, rsv: 4, fin: false, payload: c });
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: Buffer.alloc(0) });
    }),
    probe('x.12.11', 'A 4 KiB compressed message in frames of 1 byte (RSV1 on the first only)', (t) => {
      const data = json(4096, 3);
      expectEchoes(t, [message(data)]);
      t.p.sendCompressedMessage(data, false, { fragmentSize: 1 });
    }),
    probe(
      'x.12.12',
      'A 16 KiB compressed message in frames of 997 bytes, each frame its own TCP write',
      (t) => {
        const data = json(16384, 4);
        expectEchoes(t, [message(data)]);
        t.p.sendCompressedMessage(data, false, { fragmentSize: 997, sync: true });
      },
    ),
    probe('x.12.13', 'A ping between the fragments of a compressed message', (t) => {
      const data = json(4096, 5);
      const c = t.p.deflate!.compress(data);
      expectEchoes(t, [pong('in the middle'), message(data)]);
      t.p.sendFrame({ opcode: Opcode.Text, rsv: 4, fin: false, payload: c.subarray(0, 100) });
      t.p.sendFrame({ opcode: Opcode.Ping, payload: 'in the middle' });
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: c.subarray(100) });
    }),
    probe(
      'x.12.14',
      'Uncompressed messages (RSV1 clear) after permessage-deflate was agreed: text, binary and a fragmented one',
      (t) => {
        const a = json(2000, 6);
        const b = Buffer.from(a.toString('hex'), 'latin1');
        expectEchoes(t, [message(a), message(b, true), message(a)]);
        t.p.sendMessage(a, false);
        t.p.sendMessage(b, true);
        t.p.sendMessage(a, false, 300);
      },
    ),
    probe(
      'x.12.15',
      '40 messages alternating compressed and uncompressed, from 10 B to 256 KiB, all sent at once',
      (t) => {
        const events: Event[] = [];
        const data: Buffer[] = [];
        for (let i = 0; i < 40; i++) {
          const n = i % 10 === 9 ? 256 * KiB : i % 3 === 0 ? 70 * KiB : 10 + i * 37;
          data.push(json(n, i));
          events.push(message(data[i]!));
        }
        expectEchoes(t, events, 10);
        data.forEach((d, i) => {
          if (i % 2 === 0) t.p.sendCompressedMessage(d, false);
          else t.p.sendMessage(d, false);
        });
      },
      { budgetSeconds: 20 },
    ),
    probe(
      'x.12.16',
      'Back-references about one window (2^bits - 300 bytes) into the previous message (context takeover; independent when not agreed)',
      (t) => {
        const window = 2 ** t.p.deflate!.sendBits;
        const random = PAYLOAD_KINDS[4]!;
        const data = new PayloadStream(random, Math.max(64, window - 300)).next();
        expectEchoes(t, [message(data, true), message(data, true), message(data, true)]);
        t.p.sendCompressedMessage(data, true);
        t.p.sendCompressedMessage(data, true);
        t.p.sendCompressedMessage(data, true);
      },
    ),
    probe('x.12.17', 'RSV1 set on a continuation frame of a compressed message: fail with 1002', (t) => {
      const c = t.p.deflate!.compress(json(3000, 7));
      expectFailure(t, [CLOSE_PROTOCOL_ERROR]);
      t.p.sendFrame({ opcode: Opcode.Text, rsv: 4, fin: false, payload: c.subarray(0, 100) });
      t.p.sendFrame({ opcode: Opcode.Continuation, rsv: 4, fin: true, payload: c.subarray(100) });
    }),
    probe('x.12.18', 'RSV1 set on a ping: fail with 1002', (t) => {
      expectFailure(t, [CLOSE_PROTOCOL_ERROR]);
      t.p.sendFrame({ opcode: Opcode.Ping, rsv: 4, payload: 'compressed?' });
    }),
    probe('x.12.19', 'RSV2 set on a compressed message (only RSV1 is negotiated): fail with 1002', (t) => {
      expectFailure(t, [CLOSE_PROTOCOL_ERROR]);
      t.p.sendFrame({ opcode: Opcode.Text, rsv: 4 | 2, payload: RFC_HELLO });
    }),
    probe(
      'x.12.20',
      'A compressed message that is not valid DEFLATE (a block of the reserved type 11): fail with 1007 (or 1002)',
      (t) => {
        expectFailure(t, [CLOSE_INVALID_PAYLOAD, CLOSE_PROTOCOL_ERROR]);
        t.p.sendCompressedMessage(hex('ff ff ff ff'), false, { raw: true });
      },
    ),
    probe('x.12.21', 'A compressed text message that inflates to invalid UTF-8: fail with 1007', (t) => {
      expectFailure(t, [CLOSE_INVALID_PAYLOAD]);
      const bad = Buffer.concat([
        json(2000, 8),
        hex('ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80'),
        json(100),
      ]);
      if (isUtf8(bad)) throw new Error('x.12.21 payload is valid UTF-8');
      t.p.sendCompressedMessage(bad, false);
    }),
    probe(
      'x.12.22',
      'Compression bomb: 16 KiB that inflate to 16 MiB + 1 byte (default maxPayload + 1): fail with 1009',
      (t) => {
        expectFailure(t, [CLOSE_MESSAGE_TOO_BIG]);
        t.p.sendCompressedMessage(Buffer.alloc(16 * 1024 * 1024 + 1, 0x61), true);
      },
      { budgetSeconds: 20 },
    ),
    probe(
      'x.12.23',
      'INFORMATIONAL: a compressed message with an empty payload (RSV1, no bytes; 7.2.1 never produces it), then an uncompressed one',
      (t) => {
        const after = json(100, 9);
        t.expected.set('OK', [message(''), message(after)]);
        t.expectedClose = OURS_NORMAL;
        t.beforeVerdict = () => {
          const code = t.p.remoteCloseCode;
          if (
            !t.p.closedByMe &&
            code !== null &&
            [CLOSE_PROTOCOL_ERROR, CLOSE_INVALID_PAYLOAD].includes(code)
          ) {
            t.expected.set('OK', t.received.slice());
            t.expectedClose = { closedByMe: false, closeCode: [code], requireClean: false };
          }
        };
        t.p.sendFrame({ opcode: Opcode.Text, rsv: 4, payload: Buffer.alloc(0) });
        t.p.sendMessage(after, false);
        t.p.closeAfter(2);
      },
      { informational: true },
    ),
    probe(
      'x.12.24',
      'A 64 KiB incompressible message ending with a BFINAL=1 block (past any synchronous-inflate limit), then two more',
      (t) => {
        const big = new PayloadStream(PAYLOAD_KINDS[4]!, 64 * KiB).next();
        const small = json(2048, 10);
        expectEchoes(t, [message(big, true), message(small), message(big, true)]);
        t.p.sendCompressedMessage(big, true, { bfinal: true });
        t.p.sendCompressedMessage(small, false);
        t.p.sendCompressedMessage(big, true);
      },
    ),
  ];
}

// x.13: negotiation probes --------------------------------------------------------------------------

function declineProbe(id: string, offer: string, expect: ServerExpect, why: string): ConformanceCase {
  return {
    id,
    side: 'server',
    description: `Offer "${offer}": ${why}`,
    deflate: { offer, respond: () => null },
    onOpen: (t) => {
      if (!negotiated(t, expect)) return;
      runEchoStream(t, {
        payload: new PayloadStream(JSON_KIND, 2048),
        count: 4,
        inFlight: 2,
        fragmentSize: 0,
      });
    },
  };
}

function refusalProbe(
  id: string,
  response: string | ((offer: string | null) => string),
  why: string,
): ConformanceCase {
  const respond = typeof response === 'string' ? () => response : response;
  return {
    id,
    side: 'client',
    description: `Answer "${typeof response === 'string' ? response : respond(DEFAULT_OFFER)}": ${why}`,
    deflate: { offer: DEFAULT_OFFER, respond },
    onOpen: (t) => {
      // The response must be refused: nothing to send whatever the judge says, but a legal one (for an
      // unusual offer) is run as an echo.
      if (!negotiated(t, 'accept')) return;
      runEchoStream(t, {
        payload: new PayloadStream(JSON_KIND, 2048),
        count: 4,
        inFlight: 2,
        fragmentSize: 0,
      });
    },
  };
}

function extra13(): ConformanceCase[] {
  const must =
    'RFC 7692 section 7 requires declining it (no Sec-WebSocket-Extensions), messages then go uncompressed';
  const refuse = 'the client must fail the connection (RFC 7692 section 7)';
  return [
    declineProbe('x.13.1', `${PMD}; foo`, 'decline', `an unknown parameter: ${must}`),
    declineProbe(
      'x.13.2',
      `${PMD}; server_no_context_takeover; server_no_context_takeover`,
      'decline',
      `a repeated parameter: ${must}`,
    ),
    declineProbe('x.13.3', `${PMD}; server_max_window_bits=16`, 'decline', `a window above 15: ${must}`),
    declineProbe('x.13.4', `${PMD}; server_max_window_bits=7`, 'decline', `a window below 8: ${must}`),
    declineProbe('x.13.5', `${PMD}; server_max_window_bits=010`, 'decline', `a leading zero: ${must}`),
    declineProbe(
      'x.13.6',
      `${PMD}; server_max_window_bits`,
      'decline',
      `server_max_window_bits without a value: ${must}`,
    ),
    declineProbe(
      'x.13.7',
      `${PMD}; client_max_window_bits=16`,
      'decline',
      `a client window above 15: ${must}`,
    ),
    declineProbe(
      'x.13.8',
      `${PMD}; server_no_context_takeover=1`,
      'decline',
      `a value on a parameter that has none: ${must}`,
    ),
    declineProbe(
      'x.13.9',
      `${PMD}; foo=bar, ${PMD}`,
      'accept',
      'the first offer is invalid, the second must be accepted',
    ),
    declineProbe(
      'x.13.10',
      `x-webkit-deflate-frame, ${PMD}; client_max_window_bits`,
      'accept',
      'an unknown extension first: permessage-deflate must still be accepted',
    ),
    declineProbe(
      'x.13.11',
      `${PMD}; client_max_window_bits=8, ${PMD}; server_max_window_bits=8`,
      'either',
      'two offers, each with an 8-bit window',
    ),
    refusalProbe('x.13.20', `${PMD}; foo`, `an unknown parameter: ${refuse}`),
    refusalProbe(
      'x.13.21',
      `${PMD}; server_no_context_takeover; server_no_context_takeover`,
      `a repeated parameter: ${refuse}`,
    ),
    refusalProbe('x.13.22', `${PMD}; server_max_window_bits=16`, `a window above 15: ${refuse}`),
    refusalProbe('x.13.23', `${PMD}; server_max_window_bits=7`, `a window below 8: ${refuse}`),
    refusalProbe('x.13.24', `${PMD}; server_max_window_bits=09`, `a leading zero: ${refuse}`),
    refusalProbe(
      'x.13.25',
      `${PMD}; server_max_window_bits`,
      `server_max_window_bits without a value: ${refuse}`,
    ),
    refusalProbe(
      'x.13.26',
      `${PMD}; client_max_window_bits`,
      `client_max_window_bits without a value in a response: ${refuse}`,
    ),
    refusalProbe('x.13.27', `${PMD}; client_max_window_bits=16`, `a client window above 15: ${refuse}`),
    refusalProbe(
      'x.13.28',
      `${PMD}; client_no_context_takeover=true`,
      `a value on a parameter that has none: ${refuse}`,
    ),
    refusalProbe(
      'x.13.29',
      'x-webkit-deflate-frame',
      'an extension the client did not offer: it must fail the connection (RFC 6455 4.1)',
    ),
    refusalProbe(
      'x.13.30',
      `${PMD}, ${PMD}`,
      'two permessage-deflate elements, both using RSV1: the client must fail the connection (RFC 7692 section 5)',
    ),
  ];
}

export function deflateCases(): ConformanceCase[] {
  return [...section12(), ...section13(), ...extra12(), ...extra13()];
}
