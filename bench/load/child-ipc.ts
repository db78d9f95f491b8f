/** IPC helpers of a load-generator process: report to the orchestrator, or report a failure and exit. */

/** Send a message to the parent; resolves once it is handed over (or at once without a channel). */
export function sendToParent(message: object): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || process.send === undefined) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Report `error` as { type: 'failure' } and exit with status 1. */
export async function failAndExit(error: unknown): Promise<never> {
  const message = error instanceof Error ? error.message : String(error);
  await sendToParent({ type: 'failure', message });
  process.exit(1);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
