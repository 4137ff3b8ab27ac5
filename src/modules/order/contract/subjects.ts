/**
 * Commands the order module serves (request/reply), besides its subgraph on `graphql.order`.
 * None yet: other modules learn about orders from the events in `events.ts`.
 */
export const OrderCommands = {};
