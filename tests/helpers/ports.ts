import { freePort } from "../../scripts/devservers/proc.ts";

/** A TCP port that was free on 127.0.0.1 a moment ago (see the kernel's dev servers: picked below the ephemeral range). */
export { freePort };

/** Polls `fn` every `intervalMs` until it returns true or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 20_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (err) {
      lastErr = err;
    }
    await Bun.sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`);
}
