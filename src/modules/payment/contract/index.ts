import { defineContract } from "../../../kernel/index.ts";
import { PaymentEventTypes } from "./events.ts";
import { PaymentCommands } from "./subjects.ts";

/** The payment module's public contract: the only payment files other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { PAYMENT_SDL } from "./schema.ts";
export { paymentProviderTimeoutMs } from "./options.ts";

/** The payment module's commands and events (what it serves and publishes is derived from them). */
export const PaymentContract = defineContract({ commands: PaymentCommands, events: PaymentEventTypes });
