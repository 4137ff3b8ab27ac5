import { defineOptions, int, type OptionsOf, option } from "../../kernel/index.ts";
import { paymentProviderTimeoutMs } from "./contract/options.ts";

/** The payment module's options: the simulated provider. */
export const paymentOptions = defineOptions("payment", {
  /** Simulated payment provider: latency of each call, ms. */
  paymentProviderLatencyMs: option(int(0, 60_000), {
    env: "PAYMENT_PROVIDER_LATENCY_MS",
    flag: "--payment-provider-latency-ms",
    default: "50",
    allowed: "0-60000 (ms)",
    describe: "Latency of each call to the simulated payment provider.",
  }),
  /** How long the payment module waits for the provider before giving up, ms. */
  paymentProviderTimeoutMs,
});

/** The payment module's options, typed (`ctx.options`). */
export type PaymentOptions = OptionsOf<typeof paymentOptions>;
