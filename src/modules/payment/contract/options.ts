import { int, option } from "../../../kernel/index.ts";

/**
 * `PAYMENT_PROVIDER_TIMEOUT_MS`, declared here because the order module reads it too (its
 * `payment.*` calls wait a little longer than the provider may take). A module's options file
 * includes this declaration under the same key: the same declaration in two sets is one option.
 */
export const paymentProviderTimeoutMs = option(int(10, 120_000), {
  env: "PAYMENT_PROVIDER_TIMEOUT_MS",
  flag: "--payment-provider-timeout-ms",
  default: "5000",
  allowed: "10-120000 (ms)",
  describe:
    "How long the payment module waits for the provider (tok_timeout never answers): the payment then fails with PAYMENT_PROVIDER_TIMEOUT.",
});
