/**
 * Resolves when `promise` settles (either way) or after `ms` ms, whichever is first; true when it
 * settled in time. Bounds the protocol part of a drain, whose PING/PONG would otherwise wait for
 * a reconnect.
 */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
