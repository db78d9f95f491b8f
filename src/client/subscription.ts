/** One channel subscription of the client: its handler, its position in the channel, its events. */
import { Emitter } from './emitter.js';

export interface Position {
  epoch: string;
  offset: number;
}

export interface Member {
  session: string;
  user: string | null;
}

export interface HubMessage {
  channel: string;
  data: string;
  epoch: string;
  offset: number;
  /** Who published it (null: the server). */
  from: Member | null;
}

export interface SubscribedInfo extends Position {
  /**
   * False when the client's position could not be resumed (history no longer covers it, or the epoch
   * changed): messages were missed; the application may reload its state.
   */
  recovered: boolean;
  reason?: 'trimmed' | 'epoch';
  /** Whether this was a resubscribe (after a reconnect, a transport change or a gap). */
  resumed: boolean;
}

/** An error the server answered (code as in docs/protocol.md), or a client-side one (CLOSED, LIMIT). */
export class HubError extends Error {
  override readonly name = 'HubError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type SubscriptionEvents = {
  message: [message: HubMessage];
  subscribed: [info: SubscribedInfo];
  join: [member: Member];
  leave: [member: Member];
  /** The subscription was refused (FORBIDDEN, BAD_CHANNEL, LIMIT...) and is over. */
  error: [error: HubError];
};

export interface SubscriptionHost {
  unsubscribe(subscription: Subscription): Promise<void>;
  members(channel: string): Promise<Member[]>;
}

export class Subscription extends Emitter<SubscriptionEvents> {
  /** The last message processed (or where the stream starts), once subscribed. */
  position: Position | null;
  /** 'pending' until the first `subscribed`, 'active' after it, 'closed' once over. */
  state: 'pending' | 'active' | 'closed' = 'pending';
  /** The id of the subscribe request in flight, if any. */
  request: number | null = null;
  private subscribedOnce = false;

  constructor(
    readonly channel: string,
    readonly presence: boolean,
    since: Position | null,
    private readonly host: SubscriptionHost,
  ) {
    super();
    this.position = since;
  }

  /** Stop receiving the channel. */
  unsubscribe(): Promise<void> {
    return this.host.unsubscribe(this);
  }

  /** Who is in the channel now (members that subscribed with presence). */
  members(): Promise<Member[]> {
    return this.host.members(this.channel);
  }

  /** @internal */
  subscribed(position: Position, recovered: boolean, reason: 'trimmed' | 'epoch' | undefined): void {
    this.position = position;
    this.state = 'active';
    this.request = null;
    const info: SubscribedInfo = { ...position, recovered, resumed: this.subscribedOnce };
    if (reason !== undefined) info.reason = reason;
    this.subscribedOnce = true;
    this.emit('subscribed', info);
  }

  /** @internal Returns false when the message is not the next one (the caller resubscribes). */
  deliver(message: HubMessage): boolean | 'duplicate' {
    const p = this.position;
    if (this.state !== 'active' || this.request !== null || p === null) return 'duplicate';
    if (message.epoch === p.epoch && message.offset <= p.offset) return 'duplicate';
    if (message.epoch !== p.epoch || message.offset !== p.offset + 1) return false;
    this.position = { epoch: message.epoch, offset: message.offset };
    this.emit('message', message);
    return true;
  }

  /** @internal */
  member(change: 'join' | 'leave', member: Member): void {
    this.emit(change, member);
  }

  /** @internal */
  fail(error: HubError): void {
    this.state = 'closed';
    this.emit('error', error);
  }
}
