/**
 * Autobahn section 9, limits and performance (case9_1_1.py ... case9_8_6.py), at Autobahn's own sizes
 * (they take a few seconds on loopback):
 * - 9.1/9.2 single-frame text/binary messages of 64 KiB, 256 KiB, 1 MiB, 4 MiB, 8 MiB and 16 MiB
 *   (16 MiB is exactly Conduit's default maxPayload, which must accept it);
 * - 9.3/9.4 a 4 MiB message fragmented in 64 B ... 4 MiB frames;
 * - 9.5/9.6 a 1 MiB message chopped into TCP writes of 64 ... 2048 bytes;
 * - 9.7/9.8 1000 round trips of 0 ... 4096-byte messages, one at a time.
 * Unlike Autobahn (which only checks lengths) the echoed bytes must equal what was sent, and the
 * payloads are not one repeated byte: text mixes 1- and 2-byte code points, binary is pseudo-random.
 * Autobahn only reports the time these take; so do we (the report script), without judging it.
 */
import { type CaseRun, CLOSE_NORMAL, type ConformanceCase } from '../support/case-run.js';
import { Opcode } from '../support/wire.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** `n` bytes of valid UTF-8 mixing ASCII and 2-byte code points. */
export function textPayload(n: number): Buffer {
  const unit = Buffer.from('Ελληνικά-conduit-µ@ß*', 'utf8');
  const out = Buffer.allocUnsafe(n);
  for (let at = 0; at < n; at += unit.length) unit.copy(out, at, 0, Math.min(unit.length, n - at));
  // Do not end inside a code point: replace a dangling lead byte with '*'.
  let end = n - 1;
  while (end >= 0 && (out[end]! & 0xc0) === 0x80) end--;
  if (end >= 0 && out[end]! >= 0xc0) {
    const need = out[end]! >= 0xe0 ? 3 : 2;
    if (n - end < need) out.fill(0x2a, end);
  }
  return out;
}

/** `n` pseudo-random bytes (xorshift, fixed seed: failures reproduce). */
export function binaryPayload(n: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const size = (n: number) => (n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`);

/** Judge one echoed message against what was sent, then close (Autobahn's 9.x onMessage). */
function expectEcho(t: CaseRun, sent: Buffer, binary: boolean, next: () => void): void {
  t.selfJudged = true;
  t.expectedClose = { closedByMe: true, closeCode: [CLOSE_NORMAL], requireClean: true };
  t.result = 'Did not receive the echo in time.';
  t.messageHandler = (data, isBinary) => {
    if (isBinary !== binary) {
      t.behavior = 'FAILED';
      t.result = `Expected a ${binary ? 'binary' : 'text'} message, got ${isBinary ? 'binary' : 'text'}.`;
      t.p.sendClose(CLOSE_NORMAL);
    } else if (data.length !== sent.length) {
      t.behavior = 'FAILED';
      t.result = `Expected a message of ${sent.length} bytes, got ${data.length}.`;
      t.p.sendClose(CLOSE_NORMAL);
    } else if (!data.equals(sent)) {
      t.behavior = 'FAILED';
      t.result = `The echo of ${sent.length} bytes differs from what was sent.`;
      t.p.sendClose(CLOSE_NORMAL);
    } else {
      next();
    }
  };
}

function singleMessage(
  id: string,
  n: number,
  binary: boolean,
  how: { fragmentSize?: number; chopsize?: number },
): ConformanceCase {
  const kind = binary ? 'binary' : 'text';
  const detail =
    how.fragmentSize !== undefined
      ? `, in fragments of ${size(how.fragmentSize)}`
      : how.chopsize !== undefined
        ? `, in TCP writes of ${how.chopsize} bytes`
        : '';
  return {
    id,
    description: `Send ${kind} message of ${size(n)}${detail}`,
    budgetSeconds: 60,
    onOpen: (t) => {
      const payload = binary ? binaryPayload(n) : textPayload(n);
      expectEcho(t, payload, binary, () => {
        t.behavior = 'OK';
        t.result = `Received the ${kind} message of ${n} bytes, identical.`;
        t.p.sendClose(CLOSE_NORMAL);
      });
      if (how.chopsize !== undefined) {
        t.p.sendFrame({ opcode: binary ? Opcode.Binary : Opcode.Text, payload, chopsize: how.chopsize });
      } else {
        t.p.sendMessage(payload, binary, how.fragmentSize);
      }
      t.p.closeAfter(50);
    },
  };
}

function roundTrips(id: string, n: number, binary: boolean, count = 1000): ConformanceCase {
  const kind = binary ? 'binary' : 'text';
  return {
    id,
    description: `Send ${count} ${kind} messages of ${size(n)}, each after the echo of the previous one`,
    budgetSeconds: 60,
    onOpen: (t) => {
      const payload = binary ? binaryPayload(n) : textPayload(n);
      let received = 0;
      expectEcho(t, payload, binary, () => {
        received++;
        if (received < count) {
          t.p.sendMessage(payload, binary);
          return;
        }
        t.behavior = 'OK';
        t.result = `Received all ${count} echoes.`;
        t.p.sendClose(CLOSE_NORMAL);
      });
      t.p.sendMessage(payload, binary);
      t.p.closeAfter(50);
    },
  };
}

export function limitsCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const singleSizes = [64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB];
  singleSizes.forEach((n, i) => {
    cases.push(singleMessage(`9.1.${i + 1}`, n, false, {}));
  });
  singleSizes.forEach((n, i) => {
    cases.push(singleMessage(`9.2.${i + 1}`, n, true, {}));
  });

  const fragmentSizes = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB];
  fragmentSizes.forEach((f, i) => {
    cases.push(singleMessage(`9.3.${i + 1}`, 4 * MiB, false, { fragmentSize: f }));
  });
  fragmentSizes.forEach((f, i) => {
    cases.push(singleMessage(`9.4.${i + 1}`, 4 * MiB, true, { fragmentSize: f }));
  });

  const chopSizes = [64, 128, 256, 512, 1024, 2048];
  chopSizes.forEach((c, i) => {
    cases.push(singleMessage(`9.5.${i + 1}`, MiB, false, { chopsize: c }));
  });
  chopSizes.forEach((c, i) => {
    cases.push(singleMessage(`9.6.${i + 1}`, MiB, true, { chopsize: c }));
  });

  const rttSizes = [0, 16, 64, 256, KiB, 4 * KiB];
  rttSizes.forEach((n, i) => {
    cases.push(roundTrips(`9.7.${i + 1}`, n, false));
  });
  rttSizes.forEach((n, i) => {
    cases.push(roundTrips(`9.8.${i + 1}`, n, true));
  });
  return cases;
}
