/**
 * Autobahn section 7, close handling (case7_1_1.py ... case7_13_2.py, case7_7_X.py, case7_9_X.py).
 * Every case here fails outright when the close code is outside the expected set (Autobahn's 7.x
 * override of onConnectionLost). 7.1.6 and 7.13.x are INFORMATIONAL in Autobahn; we still require a
 * proper close with one of the codes Autobahn lists.
 */
import {
  type CaseRun,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_NORMAL,
  CLOSE_PROTOCOL_ERROR,
  type ConformanceCase,
  message,
} from '../support/case-run.js';
import { Opcode, repeatTo } from '../support/wire.js';
import { INVALID_SURROGATE_PAYLOAD } from './utf8.js';

const OURS_NORMAL = { closedByMe: true, closeCode: [CLOSE_NORMAL], requireClean: true };
const OURS_PROTOCOL_ERROR = { closedByMe: true, closeCode: [CLOSE_PROTOCOL_ERROR], requireClean: false };

function define(
  id: string,
  description: string,
  onOpen: (t: CaseRun) => void,
  extra: Partial<ConformanceCase> = {},
): ConformanceCase {
  return {
    id,
    description,
    onOpen: (t) => {
      t.wrongCodeFailsCase = true;
      onOpen(t);
    },
    ...extra,
  };
}

/** Codes that must be accepted (and echoed or answered with 1000): case7_7_X.py. */
export const VALID_CLOSE_CODES = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
];
/** Codes that must fail the connection with 1002: case7_9_X.py. */
export const INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];

export function closeCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [
    define('7.1.1', 'Send a message followed by a close frame', (t) => {
      t.expected.set('OK', [message('Hello World!')]);
      t.expectedClose = OURS_NORMAL;
      t.p.sendFrame({ opcode: Opcode.Text, payload: 'Hello World!' });
      t.p.killAfter(1);
    }),
    define('7.1.2', 'Send two close frames', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendClose(CLOSE_NORMAL);
      t.p.sendFrame({ opcode: Opcode.Close });
      t.p.killAfter(1);
    }),
    define('7.1.3', 'Send a ping after close message', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendClose(CLOSE_NORMAL);
      t.p.sendFrame({ opcode: Opcode.Ping });
      t.p.killAfter(1);
    }),
    define('7.1.4', 'Send text message after sending a close frame', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendClose(CLOSE_NORMAL);
      t.p.sendFrame({ opcode: Opcode.Text, payload: 'Hello World!' });
      t.p.killAfter(1);
    }),
    define('7.1.5', 'Send message fragment 1, then close, then fragment 2', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'fragment1' });
      t.p.sendClose(CLOSE_NORMAL);
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'fragment2' });
      t.p.killAfter(1);
    }),
    define(
      '7.1.6',
      'Send 256K message followed by close then a ping (Autobahn: INFORMATIONAL)',
      (t) => {
        t.suppressClose = true;
        const big = repeatTo(Buffer.from('BAsd7&jh23'), 256 * 1024);
        // Autobahn's lists; an endpoint that handles frames in order answers [big, Hello World!].
        t.expected.set('OK', [message(big), message('Hello World!')]);
        t.expected.set('NON-STRICT', []);
        t.expectedClose = OURS_NORMAL;
        t.p.sendFrame({ opcode: Opcode.Text, payload: big });
        t.p.sendFrame({ opcode: Opcode.Text, payload: 'Hello World!' });
        t.p.sendClose(CLOSE_NORMAL);
        t.p.sendFrame({ opcode: Opcode.Ping });
        t.p.killAfter(1);
      },
      { informational: true },
    ),
    define('7.3.1', 'Send a close frame with payload length 0 (no close code, no close reason)', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendCloseFrame();
      t.p.killAfter(1);
    }),
    define('7.3.2', 'Send a close frame with payload length 1', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_PROTOCOL_ERROR;
      t.p.sendCloseFrame(undefined, 'a');
      t.p.killAfter(1);
    }),
    define('7.3.3', 'Send a close frame with payload length 2 (regular close with a code)', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendCloseFrame(CLOSE_NORMAL);
      t.p.killAfter(1);
    }),
    define('7.3.4', 'Send a close frame with close code and close reason', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendClose(CLOSE_NORMAL, 'Hello World!');
      t.p.killAfter(1);
    }),
    define('7.3.5', 'Send a close frame with close code and close reason of maximum length (123)', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = OURS_NORMAL;
      t.p.sendClose(CLOSE_NORMAL, '*'.repeat(123));
      t.p.killAfter(1);
    }),
    define(
      '7.3.6',
      'Send a close frame with close code and close reason which is too long (124): payload 126 octets',
      (t) => {
        t.suppressClose = true;
        t.expected.set('OK', []);
        t.expectedClose = OURS_PROTOCOL_ERROR;
        t.p.sendCloseFrame(CLOSE_NORMAL, '*'.repeat(124));
        t.p.killAfter(1);
      },
    ),
    define('7.5.1', 'Send a close frame with invalid UTF-8 payload', (t) => {
      t.suppressClose = true;
      t.expected.set('OK', []);
      t.expectedClose = {
        closedByMe: true,
        closeCode: [CLOSE_PROTOCOL_ERROR, CLOSE_INVALID_PAYLOAD],
        requireClean: false,
      };
      t.p.sendCloseFrame(CLOSE_NORMAL, INVALID_SURROGATE_PAYLOAD);
      t.p.killAfter(1);
    }),
  ];

  VALID_CLOSE_CODES.forEach((code, i) => {
    cases.push(
      define(`7.7.${i + 1}`, `Send close with valid close code ${code}`, (t) => {
        t.expected.set('OK', []);
        t.expectedClose = { closedByMe: true, closeCode: [CLOSE_NORMAL, code], requireClean: true };
        t.p.sendCloseFrame(code);
        t.p.killAfter(1);
      }),
    );
  });
  INVALID_CLOSE_CODES.forEach((code, i) => {
    cases.push(
      define(`7.9.${i + 1}`, `Send close with invalid close code ${code}`, (t) => {
        t.expected.set('OK', []);
        t.expectedClose = OURS_PROTOCOL_ERROR;
        t.p.sendCloseFrame(code);
        t.p.killAfter(1);
      }),
    );
  });
  for (const [id, code] of [
    ['7.13.1', 5000],
    ['7.13.2', 65535],
  ] as const) {
    cases.push(
      define(
        id,
        `Send close with close code ${code} (Autobahn: INFORMATIONAL)`,
        (t) => {
          t.suppressClose = true;
          t.expected.set('OK', []);
          t.expectedClose = {
            closedByMe: true,
            closeCode: [CLOSE_NORMAL, code, CLOSE_PROTOCOL_ERROR],
            requireClean: false,
          };
          t.p.sendCloseFrame(code);
          t.p.killAfter(1);
        },
        { informational: true },
      ),
    );
  }
  return cases;
}
