import { defineContract } from "../../../kernel/index.ts";
import { OrderEventTypes } from "./events.ts";
import { OrderCommands } from "./subjects.ts";

/** The order module's public contract: the only order files other modules may import. */
export * from "./subjects.ts";
export * from "./events.ts";
export { ORDER_SDL } from "./schema.ts";

/** The order module's commands and events (what it serves and publishes is derived from them). */
export const OrderContract = defineContract({ commands: OrderCommands, events: OrderEventTypes });
