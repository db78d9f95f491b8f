/**
 * Channels over HTTP for `conduit serve`:
 *   GET  /sse?channel=NAME       an SSE stream of the channel; with Last-Event-ID (header, or a
 *                                `lastEventId` query parameter) the events after that id first
 *   POST /publish?channel=NAME   the body (UTF-8 text) is published; 202 {"id": n}
 * Every event carries its channel's next id. A reconnecting client whose id the replay buffer no longer
 * covers gets a named `gap` event first ({"requested", "oldest"} as JSON), then every kept event.
 *
 * Fan-out: the events a channel gets during one turn of the event loop are encoded once, into one
 * buffer, and written to every subscriber in one write at the end of the turn (setImmediate): under
 * load, each subscriber costs one write per turn however many events the turn published. A subscriber
 * that arrives in the middle of a turn first has the turn's events flushed to the others, then gets
 * the log from its Last-Event-ID: nothing twice, nothing out of order.
 */
import { encodeEvent } from '../protocol/sse/encoder.js';
import { SseStream, type SseStreamOptions } from '../transports/sse/stream.js';
import { ChannelLog } from './channel-log.js';
import {
  DEFAULT_BODY_TIMEOUT_MS,
  type HttpRequest,
  type HttpResponse,
  readTextBody,
  replyJson,
} from './http-body.js';

export interface SseChannelsOptions {
  /** Events kept per channel for replay. Default 1000. */
  replay?: number;
  /** Bytes of event data kept per channel for replay, oldest out first. Default 16 MiB. */
  replayBytes?: number;
  /** Channels that may exist at once; past it a new channel name gets 503. Default 10,000. */
  maxChannels?: number;
  /**
   * Bytes of event data kept for replay by all channels together. Past it, the channels nobody is
   * subscribed to go first, least recently published first (their ids go on if they come back, and a
   * client resuming on one gets a `gap` event); then the oldest events of the channel being published
   * to. Default 256 MiB.
   */
  maxReplayBytesTotal?: number;
  /**
   * Largest published body, bytes: a Content-Length over it gets 413 before any of the body is read,
   * a chunked body 413 as it passes it; the connection is closed either way. Default 1 MiB.
   */
  maxPublishBytes?: number;
  /**
   * Milliseconds a published body has to arrive in full (408 and closed past it). Default 10 s
   * (DEFAULT_BODY_TIMEOUT_MS in http-body.ts: the trade-off is written there).
   */
  bodyTimeoutMs?: number;
  /** Options of every SSE response. */
  stream?: SseStreamOptions;
}

type Request = HttpRequest;
type Response = HttpResponse;

interface Channel {
  readonly name: string;
  readonly log: ChannelLog;
  readonly subscribers: Set<SseStream>;
  /** Events published this turn and not yet written, encoded. */
  pending: string;
  pendingEvents: number;
}

/**
 * Dropped channels whose last id is remembered (about 100 bytes each); past it the oldest is forgotten,
 * and that channel, if it comes back, counts from 1 again.
 */
const MAX_RETIRED = 100_000;

/** Encoded events one channel holds back at most before it writes them (characters). */
const MAX_PENDING = 64 * 1024;

const CHANNEL_NAME = /^[A-Za-z0-9._:-]{1,128}$/;

export class SseChannels {
  private readonly channels = new Map<string, Channel>();
  private readonly replay: number;
  private readonly replayBytes: number;
  private readonly maxChannels: number;
  private readonly maxReplayBytesTotal: number;
  /** Bytes of event data all channels keep. */
  private keptBytes = 0;
  /** The last id of channels dropped to stay under maxReplayBytesTotal: if one comes back, it goes on. */
  private readonly retired = new Map<string, number>();
  private readonly maxPublishBytes: number;
  private readonly bodyTimeoutMs: number;
  private readonly streamOptions: SseStreamOptions;
  /** Channels with pending events, written at the end of the turn. */
  private readonly dirty = new Set<Channel>();
  private flushing: NodeJS.Immediate | null = null;

  constructor(options: SseChannelsOptions = {}) {
    this.replay = options.replay ?? 1000;
    this.replayBytes = options.replayBytes ?? 16 * 1024 * 1024;
    this.maxChannels = options.maxChannels ?? 10_000;
    this.maxReplayBytesTotal = options.maxReplayBytesTotal ?? 256 * 1024 * 1024;
    this.maxPublishBytes = options.maxPublishBytes ?? 1024 * 1024;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    this.streamOptions = options.stream ?? {};
  }

  /** Handle GET /sse. */
  subscribe(req: Request, res: Response): void {
    const channel = this.channelFor(req, res);
    if (channel === null) return;
    // The others get this turn's events now; this one gets them from the log, after its replay.
    this.flush(channel);
    const stream = new SseStream(req, res, this.streamOptions);
    const replay = channel.log.since(stream.lastEventId);
    if (!replay.complete) {
      stream.send({
        event: 'gap',
        data: JSON.stringify({ requested: replay.requested, oldest: replay.oldest }),
      });
    }
    for (const e of replay.events) stream.send({ id: String(e.id), data: e.data });
    if (stream.closed) return;
    channel.subscribers.add(stream);
    stream.on('close', () => {
      channel.subscribers.delete(stream);
      // A channel that never had an event holds nothing worth keeping (and counts against maxChannels).
      if (
        channel.subscribers.size === 0 &&
        channel.log.lastId === 0 &&
        this.channels.get(channel.name) === channel
      ) {
        this.channels.delete(channel.name);
      }
    });
  }

  /** Subscribers of every channel now. */
  get subscriberCount(): number {
    let n = 0;
    for (const channel of this.channels.values()) n += channel.subscribers.size;
    return n;
  }

  /** Handle POST /publish. */
  publish(req: Request, res: Response): void {
    const channel = this.channelFor(req, res);
    if (channel === null) return;
    void readTextBody(req, res, this.maxPublishBytes, {}, this.bodyTimeoutMs).then((text) => {
      if (text === null) return;
      // Looked up again: while the body came, the channel may have been dropped (see subscribe and evict).
      const target = this.channel(channel.name);
      if (target === null) replyJson(res, 503, { error: 'too many channels' });
      else replyJson(res, 202, { id: this.publishText(target, text) });
    });
  }

  /** Publish from the server itself; returns the event id. */
  publishTo(name: string, text: string): number {
    const channel = this.channel(name);
    if (channel === null) throw new RangeError(`cannot create channel ${name}`);
    return this.publishText(channel, text);
  }

  /** Write what is pending, then end every stream. */
  closeAll(): void {
    this.flushAll();
    for (const channel of this.channels.values()) {
      for (const s of channel.subscribers) s.close();
    }
  }

  private publishText(channel: Channel, text: string): number {
    const before = channel.log.keptBytes;
    const event = channel.log.publish(text);
    this.keptBytes += channel.log.keptBytes - before;
    // Most recently published last: the eviction below goes through the map from the front.
    this.channels.delete(channel.name);
    this.channels.set(channel.name, channel);
    if (this.keptBytes > this.maxReplayBytesTotal) this.evict(channel);
    if (channel.subscribers.size > 0) {
      channel.pending += encodeEvent({ id: String(event.id), data: text });
      channel.pendingEvents++;
      if (channel.pending.length >= MAX_PENDING) {
        this.flush(channel);
      } else if (channel.pendingEvents === 1) {
        this.dirty.add(channel);
        this.flushing ??= setImmediate(this.flushAll);
      }
    }
    return event.id;
  }

  /** Bring the replay data of all channels back under maxReplayBytesTotal (see the option). */
  private evict(publishing: Channel): void {
    for (const [name, channel] of this.channels) {
      if (this.keptBytes <= this.maxReplayBytesTotal) return;
      if (channel === publishing || channel.subscribers.size > 0) continue;
      this.keptBytes -= channel.log.keptBytes;
      this.channels.delete(name);
      this.retired.set(name, channel.log.lastId);
      if (this.retired.size > MAX_RETIRED) this.retired.delete(this.retired.keys().next().value!);
    }
    while (this.keptBytes > this.maxReplayBytesTotal) {
      const before = publishing.log.keptBytes;
      if (!publishing.log.trimOldest()) return;
      this.keptBytes -= before - publishing.log.keptBytes;
    }
  }

  private readonly flushAll = (): void => {
    if (this.flushing !== null) clearImmediate(this.flushing);
    this.flushing = null;
    for (const channel of this.dirty) this.flush(channel);
    this.dirty.clear();
  };

  /** Write the channel's pending events to every subscriber: encoded once, one write each. */
  private flush(channel: Channel): void {
    if (channel.pendingEvents === 0) return;
    const bytes = Buffer.from(channel.pending, 'utf8');
    const events = channel.pendingEvents;
    channel.pending = '';
    channel.pendingEvents = 0;
    for (const s of channel.subscribers) s.sendEncoded(bytes, events);
  }

  private channelFor(req: Request, res: Response): Channel | null {
    const name = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('channel');
    if (name === null || !CHANNEL_NAME.test(name)) {
      replyJson(res, 400, { error: 'channel: 1-128 characters of A-Z a-z 0-9 . _ : -' });
      return null;
    }
    const channel = this.channel(name);
    if (channel === null) replyJson(res, 503, { error: 'too many channels' });
    return channel;
  }

  private channel(name: string): Channel | null {
    let channel = this.channels.get(name);
    if (channel === undefined) {
      if (this.channels.size >= this.maxChannels) return null;
      const lastId = this.retired.get(name) ?? 0;
      this.retired.delete(name);
      channel = {
        name,
        log: new ChannelLog(this.replay, this.replayBytes, lastId),
        subscribers: new Set(),
        pending: '',
        pendingEvents: 0,
      };
      this.channels.set(name, channel);
    }
    return channel;
  }
}
