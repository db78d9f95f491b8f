/**
 * Beyond Autobahn: fail-fast probes that Autobahn's 6.4.x do not make, for the claim that invalid
 * UTF-8 fails the connection at the first invalid byte wherever it lands (Autobahn's 6.4.3/6.4.4
 * always send a valid first chop). Numbered x.6.n so they never pass for Autobahn cases in a report.
 *
 * Each probe sends the start of a text message containing an invalid byte, pauses, and only then the
 * rest: the endpoint must close with 1007 during the pause (OK); closing after the rest is NON-STRICT.
 */
import { type CaseRun, CLOSE_INVALID_PAYLOAD, type ConformanceCase, timeout } from '../support/case-run.js';
import { KOSME } from '../support/utf8-sequences.js';
import { Opcode } from '../support/wire.js';

/** κόσμε, then 0xf4 0x90 (invalid at the 0x90, byte 13), then more text. */
const INVALID = Buffer.concat([KOSME, Buffer.from('f4908080', 'hex'), Buffer.from('edited', 'latin1')]);
const TAIL = Buffer.alloc(100, 'a');

function probe(id: string, description: string, first: (t: CaseRun) => void, rest: (t: CaseRun) => void) {
  const c: ConformanceCase = {
    id,
    description,
    onOpen: (t) => {
      t.expected.set('OK', []);
      t.expected.set('NON-STRICT', [timeout('A')]);
      t.expectedClose = { closedByMe: false, closeCode: [CLOSE_INVALID_PAYLOAD], requireClean: false };
      first(t);
      t.continueLater(() => {
        if (t.p.state !== 'open') return;
        t.received.push(timeout('A'));
        rest(t);
        t.p.killAfter(1);
      });
    },
  };
  return c;
}

export function extraCases(): ConformanceCase[] {
  return [
    probe(
      'x.6.1',
      'Single-frame (FIN) text message whose first TCP write (header and payload start) holds an invalid byte',
      (t) => {
        t.p.beginMessageFrame(Opcode.Text, INVALID.length + TAIL.length, true);
        t.p.sendMessageFrameData(INVALID);
      },
      (t) => t.p.sendMessageFrameData(TAIL),
    ),
    probe(
      'x.6.2',
      'First fragment (no FIN) of a text message, cut inside its payload after an invalid byte',
      (t) => {
        t.p.beginMessageFrame(Opcode.Text, INVALID.length + TAIL.length);
        t.p.sendMessageFrameData(INVALID.subarray(0, 13));
      },
      (t) => {
        t.p.sendMessageFrameData(Buffer.concat([INVALID.subarray(13), TAIL]));
        t.p.endMessage();
      },
    ),
    probe(
      'x.6.3',
      'Continuation frame cut inside its payload after an invalid byte',
      (t) => {
        t.p.sendFrame({ opcode: Opcode.Text, fin: false, payload: KOSME });
        t.p.beginMessageFrame(Opcode.Continuation, INVALID.length + TAIL.length);
        t.p.sendMessageFrameData(INVALID.subarray(0, 13));
      },
      (t) => {
        t.p.sendMessageFrameData(Buffer.concat([INVALID.subarray(13), TAIL]));
        t.p.endMessage();
      },
    ),
  ];
}
