import { createHash } from "node:crypto";

/**
 * A simulated card-payment provider that behaves like a payment sandbox: the card token
 * decides the outcome.
 *
 * | token                 | authorize           | capture              |
 * |-----------------------|---------------------|----------------------|
 * | `tok_visa`            | authorized          | captured             |
 * | `tok_chargeDeclined`  | declined            | —                    |
 * | `tok_processingError` | authorized          | fails (processing)   |
 * | `tok_timeout`         | never answers       | —                    |
 * | anything else         | declined (`invalid_token`) | —             |
 *
 * Like a real provider it is idempotent per idempotency key: the authorization reference is
 * derived from the key, so authorizing twice with one key yields one authorization. The
 * reference also records the token's behaviour, so a restarted process (the provider keeps no
 * memory) captures it the same way. Every call takes `latencyMs`.
 */
export interface PaymentProvider {
  authorize(req: { idempotencyKey: string; token: string; amountCents: number; currency: string }): Promise<AuthorizeResult>;
  capture(req: { idempotencyKey: string; providerRef: string; amountCents: number }): Promise<CaptureResult>;
  /** Releases an authorization; a no-op for an unknown or already-void one. */
  void(req: { idempotencyKey: string; providerRef: string }): Promise<void>;
  /** Refunds a capture in full; idempotent per key. */
  refund(req: { idempotencyKey: string; providerRef: string; amountCents: number }): Promise<void>;
}

export type AuthorizeResult = { outcome: "authorized"; providerRef: string } | { outcome: "declined"; reason: string };
export type CaptureResult = { outcome: "captured" } | { outcome: "failed"; reason: string };

/** Sandbox card tokens. */
export const SANDBOX_TOKENS = ["tok_visa", "tok_chargeDeclined", "tok_processingError", "tok_timeout"] as const;

/** Creates the sandbox provider; `latencyMs` is added to every call. */
export function createSandboxProvider(opts: { latencyMs: number }): PaymentProvider {
  const delay = (): Promise<void> => (opts.latencyMs > 0 ? Bun.sleep(opts.latencyMs) : Promise.resolve());
  const ref = (key: string, kind: string): string => `pi_${kind}_${createHash("sha256").update(key).digest("hex").slice(0, 24)}`;
  return {
    async authorize({ idempotencyKey, token }) {
      await delay();
      switch (token) {
        case "tok_visa":
          return { outcome: "authorized", providerRef: ref(idempotencyKey, "ok") };
        case "tok_processingError":
          return { outcome: "authorized", providerRef: ref(idempotencyKey, "pe") };
        case "tok_chargeDeclined":
          return { outcome: "declined", reason: "card_declined" };
        case "tok_timeout":
          // Never answers: the caller's timeout decides.
          return new Promise<AuthorizeResult>(() => {});
        default:
          return { outcome: "declined", reason: "invalid_token" };
      }
    },
    async capture({ providerRef }) {
      await delay();
      return providerRef.startsWith("pi_pe_") ? { outcome: "failed", reason: "processing_error" } : { outcome: "captured" };
    },
    async void() {
      await delay();
    },
    async refund() {
      await delay();
    },
  };
}
