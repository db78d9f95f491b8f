/**
 * Autobahn section 6, UTF-8 handling (case6_1_1.py ... case6_4_4.py and case6_x_x.py).
 *
 * 6.4.x are the fail-fast cases: the invalid byte goes out in its own TCP write, after a pause, before
 * the rest of the message. The endpoint must fail the connection with 1007 as soon as that byte arrives:
 * we see its close frame before the pause is over and never send the rest (OK). A close that comes only
 * once the rest was sent is Autobahn's NON-STRICT; a close before the invalid byte was sent is FAILED.
 */
import {
  type CaseRun,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_NORMAL,
  type ConformanceCase,
  message,
  timeout,
} from '../support/case-run.js';
import { KOSME, utf8Groups } from '../support/utf8-sequences.js';
import { Opcode } from '../support/wire.js';

const OURS_NORMAL = { closedByMe: true, closeCode: [CLOSE_NORMAL], requireClean: true };
const THEIRS_INVALID_PAYLOAD = { closedByMe: false, closeCode: [CLOSE_INVALID_PAYLOAD], requireClean: false };

const HELLO_UTF8 = 'Hello-µ@ßöäüàá-UTF-8!!';
/** κόσμε, then U+110000 as the UTF-8 integer scheme would encode it (invalid at its 2nd byte), then "edited". */
const PART1 = KOSME;
const PART2_OUT_OF_RANGE = Buffer.from('f4908080', 'hex');
const PART3 = Buffer.from('edited', 'latin1');
const FAIL_FAST_PAYLOAD = Buffer.concat([PART1, PART2_OUT_OF_RANGE, PART3]);
/** κόσμε, a UTF-16 surrogate (invalid at its 2nd byte), "edited" (6.3.x, 7.5.1). */
export const INVALID_SURROGATE_PAYLOAD = Buffer.concat([KOSME, Buffer.from('eda080', 'hex'), PART3]);

function define(id: string, description: string, onOpen: (t: CaseRun) => void): ConformanceCase {
  return { id, description, onOpen };
}

function echoed(id: string, description: string, payload: Buffer | string, send: (t: CaseRun) => void) {
  return define(id, description, (t) => {
    t.expected.set('OK', [message(payload)]);
    t.expectedClose = OURS_NORMAL;
    send(t);
    t.p.closeAfter(1);
  });
}

/**
 * Fail-fast probe (6.4.x): send part 1, pause; if the endpoint is still open, record timeout A and send
 * the invalid part, pause; if still open, record timeout B and send the rest. OK is [timeout A].
 */
function failFast(
  id: string,
  description: string,
  parts: [Buffer, Buffer, Buffer],
  mode: 'frames' | 'chops',
): ConformanceCase {
  return define(id, description, (t) => {
    t.expected.set('OK', [timeout('A')]);
    t.expected.set('NON-STRICT', [timeout('A'), timeout('B')]);
    t.expectedClose = THEIRS_INVALID_PAYLOAD;
    const [p1, p2, p3] = parts;
    if (mode === 'frames') t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: p1 });
    else {
      t.p.beginMessageFrame(Opcode.Text, p1.length + p2.length + p3.length);
      t.p.sendMessageFrameData(p1);
    }
    t.continueLater(() => {
      if (t.p.state !== 'open') return;
      t.received.push(timeout('A'));
      if (mode === 'frames') t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: p2 });
      else t.p.sendMessageFrameData(p2);
      t.continueLater(() => {
        if (t.p.state !== 'open') return;
        t.received.push(timeout('B'));
        if (mode === 'frames') t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: p3 });
        else {
          t.p.sendMessageFrameData(p3);
          t.p.endMessage();
        }
        t.p.killAfter(1);
      });
    });
  });
}

export function utf8Cases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [
    echoed('6.1.1', 'Send text message of length 0', '', (t) => {
      t.p.sendFrame({ opcode: Opcode.Text, payload: '' });
    }),
    echoed('6.1.2', 'Send fragmented text message, 3 fragments each of length 0', '', (t) => {
      t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: '' });
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: '' });
      t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: '' });
    }),
    echoed(
      '6.1.3',
      'Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty',
      'middle frame payload',
      (t) => {
        t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: '' });
        t.p.sendFrame({ opcode: Opcode.Continuation, fin: false, payload: 'middle frame payload' });
        t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: '' });
      },
    ),
    echoed('6.2.1', 'Send a valid UTF-8 text message in one fragment', HELLO_UTF8, (t) => {
      t.p.sendFrame({ opcode: Opcode.Text, payload: HELLO_UTF8 });
    }),
    echoed(
      '6.2.2',
      'Send a valid UTF-8 text message in two fragments, fragmented on a code point boundary',
      HELLO_UTF8,
      (t) => {
        t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: 'Hello-µ@ßöä' });
        t.p.sendFrame({ opcode: Opcode.Continuation, fin: true, payload: 'üàá-UTF-8!!' });
      },
    ),
    echoed(
      '6.2.3',
      'Send a valid UTF-8 text message in fragments of 1 octet (frames end inside code points)',
      HELLO_UTF8,
      (t) => t.p.sendMessage(HELLO_UTF8, false, 1),
    ),
    echoed('6.2.4', 'Send a valid UTF-8 text message (κόσμε) in fragments of 1 octet', KOSME, (t) =>
      t.p.sendMessage(KOSME, false, 1),
    ),
    define('6.3.1', 'Send invalid UTF-8 text message unfragmented', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = THEIRS_INVALID_PAYLOAD;
      t.p.sendMessage(INVALID_SURROGATE_PAYLOAD, false);
      t.p.killAfter(1);
    }),
    define('6.3.2', 'Send invalid UTF-8 text message in fragments of 1 octet', (t) => {
      t.expected.set('OK', []);
      t.expectedClose = THEIRS_INVALID_PAYLOAD;
      t.p.sendMessage(INVALID_SURROGATE_PAYLOAD, false, 1);
      t.p.killAfter(1);
    }),
    failFast(
      '6.4.1',
      'Invalid UTF-8 text message in 3 frames: valid, then the frame holding the invalid sequence (fail fast), then the rest',
      [PART1, PART2_OUT_OF_RANGE, PART3],
      'frames',
    ),
    failFast(
      '6.4.2',
      'As 6.4.1, but the 2nd frame holds only the octet that makes the payload invalid',
      [FAIL_FAST_PAYLOAD.subarray(0, 12), FAIL_FAST_PAYLOAD.subarray(12, 13), FAIL_FAST_PAYLOAD.subarray(13)],
      'frames',
    ),
    failFast(
      '6.4.3',
      'As 6.4.1, but in 3 chops (TCP writes) of one frame',
      [PART1, PART2_OUT_OF_RANGE, PART3],
      'chops',
    ),
    failFast(
      '6.4.4',
      'As 6.4.2, but in 3 chops (TCP writes) of one frame',
      [FAIL_FAST_PAYLOAD.subarray(0, 12), FAIL_FAST_PAYLOAD.subarray(12, 13), FAIL_FAST_PAYLOAD.subarray(13)],
      'chops',
    ),
  ];

  utf8Groups().forEach((group, g) => {
    group.sequences.forEach((sequence, s) => {
      const id = `6.${g + 5}.${s + 1}`;
      const hex = sequence.bytes.toString('hex');
      cases.push(
        define(
          id,
          `${group.title}: text message with payload 0x${hex.length > 40 ? `${hex.slice(0, 40)}...` : hex} (${sequence.valid ? 'valid, echoed' : 'invalid, 1007'})`,
          (t) => {
            if (sequence.valid) {
              t.expected.set('OK', [message(sequence.bytes)]);
              t.expectedClose = OURS_NORMAL;
            } else {
              t.expected.set('OK', []);
              t.expectedClose = THEIRS_INVALID_PAYLOAD;
            }
            t.p.sendMessage(sequence.bytes, false);
            t.p.killAfter(0.5);
          },
        ),
      );
    });
  });
  return cases;
}
