/**
 * The broker port: where the hub puts publications and finds them again. It assigns each publication
 * its channel's next offset exactly once, keeps the history, tells every node listening on a channel
 * about each publication, keeps idempotency keys (so a client's retry is not published twice) and
 * presence. The in-memory broker (brokers/memory.ts) is the default; a Redis one (next issue) puts all
 * of it in Redis so that several nodes share it.
 *
 * Every method may be asynchronous (a network round trip); the hub never assumes otherwise.
 */
import type { Publication, PublisherInfo, Recovery, StreamPosition } from './history.js';

export interface PublishOptions {
  /** Who published (a client's session), or null (the server). */
  from: PublisherInfo | null;
  /**
   * A key that makes the publish idempotent: a second publish with the same key (within the broker's
   * memory of keys) publishes nothing and answers the first one's publication.
   */
  idempotencyKey?: string;
}

/** A member of a channel's presence. */
export interface PresenceMember {
  /** The session. */
  readonly session: string;
  readonly user: string | null;
}

export interface Broker {
  /** Publish: assign the next offset, keep it in the history, deliver it to every listener. */
  publish(channel: string, data: string, options: PublishOptions): Promise<Publication>;
  /** What comes after `since` (null: nothing, only the current top). */
  recover(channel: string, since: StreamPosition | null): Promise<Recovery>;
  /** Start receiving the channel's publications (through `onPublication`); counted, undone by `unlisten`. */
  listen(channel: string): Promise<void>;
  unlisten(channel: string): Promise<void>;
  /** Where the publications of the channels listened to arrive, from this node or any other. */
  onPublication(handler: (publication: Publication) => void): void;
  /** Presence: add or refresh a member (true when it was not there), remove one, list them. */
  join(channel: string, member: PresenceMember): Promise<boolean>;
  leave(channel: string, session: string): Promise<boolean>;
  members(channel: string): Promise<readonly PresenceMember[]>;
  /**
   * Stop keeping a member alive from this node without removing it (its session moved to another
   * node, which keeps it). Brokers of one node need not implement it.
   */
  forget?(channel: string, session: string): void;
  /**
   * Publications may have been missed (a broker that lost its connection and got it back): the hub
   * then checks every subscription against the history. Brokers that cannot miss any need not call it.
   */
  onResync?(handler: () => void): void;
  /** Presence changes, from this node or any other. */
  onPresence(handler: (channel: string, change: 'join' | 'leave', member: PresenceMember) => void): void;
  close(): Promise<void>;
}
