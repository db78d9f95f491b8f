/**
 * One client's session in the hub: its id and identity, its subscriptions (with the position each has
 * reached), its bounded outbound queue, and the transport it is on now (none between two
 * transports). It outlives its transports: a client that comes back with the session id within the
 * hub's TTL keeps it (presence without a leave/join flicker); it then resubscribes its channels from
 * the positions it holds, which re-syncs them (session-level state never decides what a client has).
 */

import { OutboundQueue } from './queue.js';
import type { HubTransport, Outbound } from './transport.js';

export interface QueuePolicyOptions {
  /** Messages queued at most. Default 10,000. */
  maxMessages: number;
  /** UTF-16 code units queued at most (about bytes for JSON). Default 8 Mi. */
  maxUnits: number;
  /**
   * Past a bound: 'drop-oldest' removes the oldest publication's channel from the queue and tells the
   * client with a `gap` message (it resubscribes from its last offset and gets the rest from history);
   * 'disconnect' closes the transport with 4008 (the client reconnects and resubscribes).
   */
  policy: 'drop-oldest' | 'disconnect';
}

export type SubscriptionState =
  /** Waiting for the broker's recovery; live publications are held in `held`. */
  | 'recovering'
  | 'live'
  /** Publications were dropped for it: nothing more is queued until the client resubscribes. */
  | 'gapped';

export interface Subscription {
  readonly channel: string;
  state: SubscriptionState;
  epoch: string;
  /** The offset of the last publication queued for the client. */
  offset: number;
  presence: boolean;
  /** Bumped by every (re)subscribe: a recovery of an older one is dropped when it completes. */
  generation: number;
}

export interface SessionCounters {
  /** Channels dropped from the queue under 'drop-oldest' (each a gap message). */
  gaps: number;
  /** Publications removed with them. */
  dropped: number;
  /** Transports closed under 'disconnect'. */
  disconnects: number;
}

/** What every session of a hub adds to as it writes (the hub's monotonic counters). */
export interface SentTotals {
  messages: number;
  /** UTF-16 code units of the messages' JSON (about bytes). */
  units: number;
}

export class Session {
  readonly subscriptions = new Map<string, Subscription>();
  readonly queue = new OutboundQueue();
  readonly counters: SessionCounters = { gaps: 0, dropped: 0, disconnects: 0 };
  transport: HubTransport | null = null;
  /** When something last came from the client, ms (liveness). */
  lastSeen: number;
  /** When the transport went away (the TTL runs from there), or null while on one. */
  detachedAt: number | null = null;
  /** Bad messages in a row (ProtocolViolation past a bound). */
  strikes = 0;
  /** Whether anything was written since the hub's last sweep, and when the sweep last saw a write (pings). */
  wrote = false;
  lastSent = 0;

  constructor(
    readonly id: string,
    readonly user: string | null,
    /** Channels the token allows (patterns), or null when the token does not restrict them. */
    readonly allowed: readonly string[] | null,
    private readonly limits: QueuePolicyOptions,
    now: number,
    /** Called when the queue overflowed; the hub sends the gap or closes the transport. */
    private readonly onOverflow: (session: Session) => void,
    private readonly sent: SentTotals = { messages: 0, units: 0 },
  ) {
    this.lastSeen = now;
  }

  /** Queue one encoded message (`channel` for a publication); it goes out at once if the transport takes it. */
  enqueue(message: Outbound, channel: string | null): void {
    this.queue.push({ message, channel });
    if (this.transport?.writable === true) this.flush();
    else if (this.overLimits) this.onOverflow(this);
  }

  /** Write what the transport takes now. */
  flush(): void {
    const transport = this.transport;
    if (transport === null || this.queue.length === 0) return;
    let wrote = false;
    while (transport.writable) {
      const next = this.queue.shift();
      if (next === undefined) break;
      transport.write(next.message);
      this.sent.messages++;
      this.sent.units += next.message.text.length;
      wrote = true;
    }
    if (wrote) {
      this.wrote = true;
      transport.commit();
    }
  }

  get policy(): QueuePolicyOptions['policy'] {
    return this.limits.policy;
  }

  /** Over either bound? */
  get overLimits(): boolean {
    return this.queue.length > this.limits.maxMessages || this.queue.units > this.limits.maxUnits;
  }
}
