/**
 * What the conformance test files share: the sections, how many cases of each run at once, the timing,
 * and the cases known to fail (each one explained in ../FINDINGS.md).
 */
import type { Timing } from './peer.js';

/**
 * Autobahn's one second is 2 s here: it only bounds waits that a conforming endpoint never reaches
 * (kill, close-handshake and TCP-drop timeouts), and the slack keeps a loaded CI machine from turning
 * slow event loop turns into failures. The fail-fast pause of 6.4.x stays short: it does not depend on
 * load (the probe runs only after pending I/O has been processed, see FuzzPeer.later).
 */
export const TEST_TIMING: Timing = { second: 2000, pause: 25 };

export interface Section {
  id: string;
  title: string;
  /** Cases run at the same time within the section. */
  concurrency: number;
}

export const SECTIONS: readonly Section[] = [
  { id: '1', title: 'Framing', concurrency: 8 },
  { id: '2', title: 'Pings/Pongs', concurrency: 8 },
  { id: '3', title: 'Reserved bits', concurrency: 8 },
  { id: '4', title: 'Opcodes', concurrency: 8 },
  { id: '5', title: 'Fragmentation', concurrency: 8 },
  { id: '6', title: 'UTF-8 handling', concurrency: 16 },
  { id: '7', title: 'Close handling', concurrency: 16 },
  { id: '9', title: 'Limits/performance', concurrency: 2 },
  { id: 'x', title: 'Beyond Autobahn: fail-fast probes', concurrency: 4 },
];

/** The permessage-deflate sections (cases/deflate.ts), run against endpoints with it enabled. */
export const DEFLATE_SECTIONS: readonly Section[] = [
  { id: '12', title: 'WebSocket Compression (different payloads)', concurrency: 4 },
  { id: '13', title: 'WebSocket Compression (different parameters)', concurrency: 6 },
  { id: 'x.12', title: 'Beyond Autobahn: compressed framing', concurrency: 6 },
  { id: 'x.13', title: 'Beyond Autobahn: negotiation', concurrency: 8 },
];

export type Side = 'server' | 'client';

/**
 * Cases that fail because of a Conduit bug, by side, keyed by case id (every target) or by
 * '<target>:<case id>' (that target only): the test stays as it should be and is marked todo until the
 * fix lands. Keep in step with FINDINGS.md.
 */
export const KNOWN_FAILURES: Record<Side, Readonly<Record<string, string>>> = {
  server: {},
  client: {},
};

/** Per-test options: a generous timeout (no case should hang the run), and todo for known failures. */
export function caseOptions(side: Side, id: string, target?: string): { timeout: number; todo?: string } {
  const known = KNOWN_FAILURES[side];
  const reason = (target === undefined ? undefined : known[`${target}:${id}`]) ?? known[id];
  return reason === undefined ? { timeout: 60_000 } : { timeout: 60_000, todo: reason };
}
