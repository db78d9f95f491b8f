/**
 * A session's outbound queue: encoded server messages waiting for the transport (backpressure, a
 * long-poll between two requests, a transport being replaced). Bounded in messages and bytes; what
 * happens past the bounds is the session's policy (session.ts). Entries of a channel can be removed
 * together (a gap: the client resubscribes from its last offset, so nothing queued for it is kept).
 */
import type { Outbound } from './transport.js';

export interface QueuedMessage {
  readonly message: Outbound;
  /** The channel of a publication, or null for anything else (replies, control). */
  readonly channel: string | null;
}

export class OutboundQueue {
  private items: QueuedMessage[] = [];
  private head = 0;
  private size = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** UTF-16 code units queued (a cheap stand-in for bytes: at most 3 bytes each). */
  get units(): number {
    return this.size;
  }

  push(message: QueuedMessage): void {
    this.items.push(message);
    this.size += message.message.text.length;
  }

  shift(): QueuedMessage | undefined {
    if (this.head >= this.items.length) return undefined;
    const message = this.items[this.head]!;
    this.items[this.head] = undefined as unknown as QueuedMessage;
    this.head++;
    this.size -= message.message.text.length;
    if (this.head === this.items.length) {
      // Empty: release the backing store (an idle session keeps none).
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return message;
  }

  /** The oldest publication's channel, or null when only other messages are queued. */
  oldestChannel(): string | null {
    for (let i = this.head; i < this.items.length; i++) {
      const channel = this.items[i]!.channel;
      if (channel !== null) return channel;
    }
    return null;
  }

  /** Remove every queued publication of `channel`; returns how many. */
  removeChannel(channel: string): number {
    const kept: QueuedMessage[] = [];
    let removed = 0;
    for (let i = this.head; i < this.items.length; i++) {
      const m = this.items[i]!;
      if (m.channel === channel) {
        removed++;
        this.size -= m.message.text.length;
      } else {
        kept.push(m);
      }
    }
    this.items = kept;
    this.head = 0;
    return removed;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.size = 0;
  }
}
