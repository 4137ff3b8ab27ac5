/**
 * Bus subjects the account module serves (request/reply), besides its subgraph on
 * `graphql.account`. None yet: other modules reach accounts through federation (`Account`
 * entity) and the events in `events.ts`.
 */
export const AccountSubjects = {} as const;
