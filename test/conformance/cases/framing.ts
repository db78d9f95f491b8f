/**
 * Autobahn sections 1 (framing), 2 (pings/pongs), 3 (reserved bits), 4 (opcodes) and 5 (fragmentation),
 * transcribed from autobahntestsuite/case/case1_1_1.py ... case5_20.py: same frames, same chopping,
 * same expectations. Autobahn's seconds (killAfter, closeAfter) are `timing.second` ms here.
 */
import {
  type CaseRun,
  CLOSE_NORMAL,
  CLOSE_PROTOCOL_ERROR,
  type ConformanceCase,
  message,
  pong,
} from '../support/case-run.js';
import { Opcode } from '../support/wire.js';

const OURS_NORMAL = { closedByMe: true, closeCode: [CLOSE_NORMAL], requireClean: true };
const THEIRS_PROTOCOL_ERROR = { closedByMe: false, closeCode: [CLOSE_PROTOCOL_ERROR], requireClean: false };

function define(id: string, description: string, onOpen: (t: CaseRun) => void): ConformanceCase {
  return { id, description, onOpen };
}

// Section 1: framing ------------------------------------------------------------------------------

const SIZES = [0, 125, 126, 127, 128, 65535, 65536];

function section1(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const [group, binary] of [
    ['1.1', false],
    ['1.2', true],
  ] as const) {
    const kind = binary ? 'binary' : 'text';
    const fill = (n: number) => (binary ? Buffer.alloc(n, 0xfe) : Buffer.alloc(n, '*'));
    SIZES.forEach((n, i) => {
      cases.push(
        define(`${group}.${i + 1}`, `Send ${kind} message with payload of length ${n}`, (t) => {
          const payload = fill(n);
          t.expected.set('OK', [message(payload, binary)]);
          t.expectedClose = OURS_NORMAL;
          t.p.sendFrame({ opcode: binary ? Opcode.Binary : Opcode.Text, payload });
          t.p.killAfter(n > 65000 ? 2 : 1);
        }),
      );
    });
    cases.push(
      define(
        `${group}.8`,
        `Send ${kind} message with payload of length 65536, in chops of 997 octets`,
        (t) => {
          const payload = fill(65536);
          t.expected.set('OK', [message(payload, binary)]);
          t.expectedClose = OURS_NORMAL;
          t.p.sendFrame({ opcode: binary ? Opcode.Binary : Opcode.Text, payload, chopsize: 997 });
          t.p.killAfter(10);
        },
      ),
    );
  }
  return cases;
}

// Section 2: pings and pongs ----------------------------------------------------------------------

function pingCase(id: string, description: string, payload: Buffer | string, chopsize?: number) {
  return define(id, description, (t) => {
    t.expected.set('OK', [pong(payload)]);
    t.expectedClose = OURS_NORMAL;
    t.p.sendFrame({ opcode: Opcode.Ping, payload, chopsize });
    t.p.closeAfter(chopsize === undefined ? 1 : 2);
  });
}

function tenPings(id: string, description: string, chopsize?: number) {
  return define(id, description, (t) => {
    const expected = [];
    for (let i = 0; i < 10; i++) {
      const payload = `payload-${i}`;
      expected.push(pong(payload));
      t.p.sendFrame({ opcode: Opcode.Ping, payload, chopsize });
    }
    t.expected.set('OK', expected);
    t.expectedClose = OURS_NORMAL;
    t.p.closeAfter(3);
  });
}

function section2(): ConformanceCase[] {
  return [
    pingCase('2.1', 'Send ping without payload', ''),
    pingCase('2.2', 'Send ping with small text payload', 'Hello, world!'),
    pingCase(
      '2.3',
      'Send ping with small binary (non UTF-8) payload',
      Buffer.from('00fffefdfcfb00ff', 'hex'),
    ),
    pingCase('2.4', 'Send ping with binary payload of 125 octets', Buffer.alloc(125, 0xfe)),
    define('2.5', 'Send ping with binary payload of 126 octets', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = THEIRS_PROTOCOL_ERROR;
      t.p.sendFrame({ opcode: Opcode.Ping, payload: Buffer.alloc(126, 0xfe) });
      t.p.killAfter(1);
    }),
    pingCase(
      '2.6',
      'Send ping with binary payload of 125 octets, in octet-wise chops',
      Buffer.alloc(125, 0xfe),
      1,
    ),
    define('2.7', 'Send unsolicited pong without payload', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendFrame({ opcode: Opcode.Pong });
      t.p.sendClose(CLOSE_NORMAL);
      t.p.closeAfter(1);
    }),
    define('2.8', 'Send unsolicited pong with payload', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendFrame({ opcode: Opcode.Pong, payload: 'unsolicited pong payload' });
      t.p.sendClose(CLOSE_NORMAL);
      t.p.closeAfter(1);
    }),
    define('2.9', 'Send unsolicited pong with payload, then ping with payload', (t) => {
      t.expected.set('OK', [pong('ping payload')]);
      t.expectedClose = OURS_NORMAL;
      t.p.sendFrame({ opcode: Opcode.Pong, payload: 'unsolicited pong payload' });
      t.p.sendFrame({ opcode: Opcode.Ping, payload: 'ping payload' });
      t.p.closeAfter(1);
    }),
    tenPings('2.10', 'Send 10 pings with payload'),
    tenPings('2.11', 'Send 10 pings with payload, in octet-wise chops', 1),
  ];
}

// Section 3: reserved bits ------------------------------------------------------------------------

function section3(): ConformanceCase[] {
  const hello = 'Hello, world!';
  const echoThenFail =
    (rsv: number, options: { sync?: boolean; chopsize?: number }) =>
    (t: CaseRun): void => {
      t.expected.set('OK', [message(hello)]);
      t.expected.set('NON-STRICT', []);
      t.expectedClose = THEIRS_PROTOCOL_ERROR;
      t.p.sendFrame({ opcode: Opcode.Text, payload: hello, ...options });
      t.p.sendFrame({ opcode: Opcode.Text, payload: hello, rsv, ...options });
      t.p.sendFrame({ opcode: Opcode.Ping, ...options });
      t.p.killAfter(1);
    };
  return [
    define('3.1', 'Send small text message with RSV = 1', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = THEIRS_PROTOCOL_ERROR;
      t.p.sendFrame({ opcode: Opcode.Text, payload: hello, rsv: 1 });
      t.p.killAfter(1);
    }),
    define('3.2', 'Send small text message, then again with RSV = 2, then ping', echoThenFail(2, {})),
    define(
      '3.3',
      'Send small text message, then again with RSV = 3, then ping, in frame-wise chops',
      echoThenFail(3, { sync: true }),
    ),
    define(
      '3.4',
      'Send small text message, then again with RSV = 4, then ping, in octet-wise chops',
      echoThenFail(4, { chopsize: 1 }),
    ),
    define('3.5', 'Send small binary message with RSV = 5', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = THEIRS_PROTOCOL_ERROR;
      t.p.sendFrame({ opcode: Opcode.Binary, payload: Buffer.from('00fffefdfcfb00ff', 'hex'), rsv: 5 });
      t.p.killAfter(1);
    }),
    // Autobahn's 3.6 is described as a ping but sends a binary frame (opcode 2); we send what it sends.
    define('3.6', 'Send ping with RSV = 6 (as Autobahn: a binary frame)', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = THEIRS_PROTOCOL_ERROR;
      t.p.sendFrame({ opcode: Opcode.Binary, payload: hello, rsv: 6 });
      t.p.killAfter(1);
    }),
    define('3.7', 'Send close with RSV = 7', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = THEIRS_PROTOCOL_ERROR;
      t.p.sendFrame({ opcode: Opcode.Close, rsv: 7 });
      t.p.killAfter(1);
    }),
  ];
}

// Section 4: opcodes ------------------------------------------------------------------------------

function section4(): ConformanceCase[] {
  const hello = 'Hello, world!';
  const cases: ConformanceCase[] = [];
  for (const [group, base, kind] of [
    ['4.1', 3, 'non-control'],
    ['4.2', 11, 'control'],
  ] as const) {
    cases.push(
      define(`${group}.1`, `Send frame with reserved ${kind} opcode ${base}`, (t) => {
        t.expected.set('OK', []);
        t.expectedClose = THEIRS_PROTOCOL_ERROR;
        t.p.sendFrame({ opcode: base });
        t.p.killAfter(1);
      }),
      define(
        `${group}.2`,
        `Send frame with reserved ${kind} opcode ${base + 1} and non-empty payload`,
        (t) => {
          t.expected.set('OK', []);
          t.expectedClose = THEIRS_PROTOCOL_ERROR;
          t.p.sendFrame({ opcode: base + 1, payload: 'reserved opcode payload' });
          t.p.killAfter(1);
        },
      ),
    );
    const after =
      (opcode: number, payload: string | undefined, chopsize: number | undefined) =>
      (t: CaseRun): void => {
        t.expected.set('OK', [message(hello)]);
        t.expected.set('NON-STRICT', []);
        t.expectedClose = THEIRS_PROTOCOL_ERROR;
        t.p.sendFrame({ opcode: Opcode.Text, payload: hello, chopsize });
        t.p.sendFrame({ opcode, payload, chopsize });
        t.p.sendFrame({ opcode: Opcode.Ping, chopsize });
        t.p.killAfter(1);
      };
    cases.push(
      define(
        `${group}.3`,
        `Send small text message, then frame with reserved ${kind} opcode ${base + 2}, then ping`,
        after(base + 2, undefined, undefined),
      ),
      define(
        `${group}.4`,
        `Send small text message, then frame with reserved ${kind} opcode ${base + 3} and payload, then ping`,
        after(base + 3, hello, undefined),
      ),
      define(
        `${group}.5`,
        `Send small text message, then frame with reserved ${kind} opcode ${base + 4} and payload, then ping, in octet-wise chops`,
        after(base + 4, hello, 1),
      ),
    );
  }
  return cases;
}

// Section 5: fragmentation ------------------------------------------------------------------------

type Chopping = { sync?: boolean; chopsize?: number };
const ONE_CHOP: Chopping = {};
const FRAME_WISE: Chopping = { sync: true };
const OCTET_WISE: Chopping = { chopsize: 1 };
const chopName = (c: Chopping) =>
  c.chopsize !== undefined ? 'in octet-wise chops' : c.sync ? 'in frame-wise chops' : 'in one chop';

function section5(): ConformanceCase[] {
  const failsFast = (id: string, description: string, frames: (t: CaseRun) => void) =>
    define(id, description, (t) => {
      t.expected.set('OK', []);
      t.expectedClose = THEIRS_PROTOCOL_ERROR;
      frames(t);
      t.p.killAfter(1);
    });
  const twoFragments = (id: string, c: Chopping) =>
    define(id, `Send text message fragmented into 2 fragments, ${chopName(c)}`, (t) => {
      t.expected.set('OK', [message('fragment1fragment2')]);
      t.expectedClose = OURS_NORMAL;
      t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'fragment1', ...c });
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment2', ...c });
      t.p.closeAfter(1);
    });
  const pingBetween = (id: string, c: Chopping) =>
    define(id, `Send text message in 2 fragments with a ping in between, ${chopName(c)}`, (t) => {
      t.expected.set('OK', [pong('ping payload'), message('fragment1fragment2')]);
      t.expectedClose = OURS_NORMAL;
      t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'fragment1', ...c });
      t.p.sendFrame({ opcode: Opcode.Ping, fin: true, payload: 'ping payload', ...c });
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment2', ...c });
      t.p.closeAfter(1);
    });
  const nothingToContinue = (id: string, fin: boolean, c: Chopping) =>
    failsFast(
      id,
      `Send unfragmented text message after continuation frame with FIN = ${fin}, where there is nothing to continue, ${chopName(c)}`,
      (t) => {
        t.p.sendFrame({ opcode: Opcode.Continuation, fin, payload: 'non-continuation payload', ...c });
        t.p.sendFrame({ opcode: Opcode.Text, fin: true, payload: 'Hello, world!', ...c });
      },
    );
  const fragment19 = (id: string, sync: boolean) =>
    define(
      id,
      `Fragmented text message with pings in between and a pause after the first ping${sync ? ', frame-wise chops' : ''}`,
      (t) => {
        const fragments = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
        const pings = ['pongme 1!', 'pongme 2!'];
        t.expected.set('OK', [pong(pings[0]!), pong(pings[1]!), message(fragments.join(''))]);
        t.expectedClose = OURS_NORMAL;
        t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: fragments[0], sync });
        t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: fragments[1], sync });
        t.p.sendFrame({ opcode: Opcode.Ping, payload: pings[0], sync });
        t.continueLater(() => {
          t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: fragments[2], sync });
          t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: fragments[3], sync });
          t.p.sendFrame({ opcode: Opcode.Ping, payload: pings[1], sync });
          t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: fragments[4], sync });
          t.p.closeAfter(1);
        });
      },
    );

  return [
    failsFast('5.1', 'Send ping fragmented into 2 fragments', (t) => {
      t.p.sendFrame({ opcode: Opcode.Ping, fin: false, payload: 'fragment1' });
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment2' });
    }),
    failsFast('5.2', 'Send pong fragmented into 2 fragments', (t) => {
      t.p.sendFrame({ opcode: Opcode.Pong, fin: false, payload: 'fragment1' });
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment2' });
    }),
    twoFragments('5.3', ONE_CHOP),
    twoFragments('5.4', FRAME_WISE),
    twoFragments('5.5', OCTET_WISE),
    pingBetween('5.6', ONE_CHOP),
    pingBetween('5.7', FRAME_WISE),
    pingBetween('5.8', OCTET_WISE),
    nothingToContinue('5.9', true, ONE_CHOP),
    nothingToContinue('5.10', true, FRAME_WISE),
    nothingToContinue('5.11', true, OCTET_WISE),
    nothingToContinue('5.12', false, ONE_CHOP),
    nothingToContinue('5.13', false, FRAME_WISE),
    nothingToContinue('5.14', false, OCTET_WISE),
    define(
      '5.15',
      'Send text message in 2 fragments, then continuation frame with FIN = false where there is nothing to continue, then unfragmented text message',
      (t) => {
        t.expected.set('OK', [message('fragment1fragment2')]);
        t.expected.set('NON-STRICT', []);
        t.expectedClose = THEIRS_PROTOCOL_ERROR;
        t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'fragment1' });
        t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment2' });
        t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: 'fragment3' });
        t.p.sendFrame({ opcode: Opcode.Text, fin: true, payload: 'fragment4' });
        t.p.killAfter(1);
      },
    ),
    failsFast(
      '5.16',
      'Repeated 2x: continuation frame with FIN = false (nothing to continue), then text message in 2 fragments',
      (t) => {
        for (let i = 0; i < 2; i++) {
          t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: 'fragment1' });
          t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'fragment2' });
          t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment3' });
        }
      },
    ),
    failsFast(
      '5.17',
      'Repeated 2x: continuation frame with FIN = true (nothing to continue), then text message in 2 fragments',
      (t) => {
        for (let i = 0; i < 2; i++) {
          t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment1' });
          t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'fragment2' });
          t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment3' });
        }
      },
    ),
    failsFast('5.18', 'Send text message in 2 fragments, with both frame opcodes set to text', (t) => {
      t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'fragment1' });
      t.p.sendFrame({ opcode: Opcode.Text, fin: true, payload: 'fragment2' });
    }),
    fragment19('5.19', false),
    fragment19('5.20', true),
  ];
}

export function framingCases(): ConformanceCase[] {
  return [...section1(), ...section2(), ...section3(), ...section4(), ...section5()];
}
