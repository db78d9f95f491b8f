/**
 * The `onopen`/`onmessage`/... event handler IDL attributes of WHATWG interfaces (HTML "event handler
 * attributes"), shared by WebSocket and EventSource: one listener per type, replaced when the attribute
 * is set again, removed when it is set to anything that is not a function.
 */
export type Handler<T, E extends Event> = ((this: T, ev: E) => unknown) | null;

type Wrapper<T> = EventListener & { handler?: Handler<T, Event> };

export class HandlerSlots<T extends EventTarget> {
  readonly #target: T;
  readonly #wrappers = new Map<string, Wrapper<T>>();

  constructor(target: T) {
    this.#target = target;
  }

  get(type: string): Handler<T, Event> {
    return this.#wrappers.get(type)?.handler ?? null;
  }

  set(type: string, fn: Handler<T, Event>): void {
    const previous = this.#wrappers.get(type);
    if (previous !== undefined) {
      this.#target.removeEventListener(type, previous);
      this.#wrappers.delete(type);
    }
    if (typeof fn !== 'function') return;
    const target = this.#target;
    const wrapper: Wrapper<T> = Object.assign((event: Event) => fn.call(target, event), { handler: fn });
    this.#wrappers.set(type, wrapper);
    target.addEventListener(type, wrapper);
  }
}
