/** The W1 work for `overseer worker --executors` in the dispatch benchmark: a no-op that completes on the next turn of the event loop. */
export async function noop(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}
