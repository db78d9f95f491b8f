/** Waiting in tests for something that happens over the network, polled every 10 ms, bounded. */

/** Until `check` holds; throws "timed out: what" after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  await untilValue(check, (ok) => ok, what, ms);
}

/** Until `ok(get())` holds, and that value; throws "timed out: what" after `ms`. */
export async function untilValue<T>(
  get: () => T | Promise<T>,
  ok: (value: T) => boolean,
  what: string,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await get();
    if (ok(value)) return value;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
