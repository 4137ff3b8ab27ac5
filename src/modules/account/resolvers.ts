import { reference, typed, type Resolver } from "../../kernel/graphql/resolvers.ts";
import { forbidden, unauthenticated, type Resolvers, type SubgraphContext } from "../../kernel/index.ts";
import { DateTimeScalar } from "../../kernel/graphql/scalars.ts";
import { ADMIN_ROLE, type AccountService, type AuthPayload } from "./service.ts";
import type { AccountRecord, AccountStore } from "./storage/types.ts";
import type { RegisterInput } from "./validation.ts";

/**
 * The account subgraph's resolvers. `Account` fields resolve from {@link AccountRecord} by
 * default field resolution (the record's keys match the SDL; the password hash is never on it),
 * except the private ones (`email`, `roles`), which only the account itself and admins read.
 *
 * That rule depends on the object, not only on the caller, so the gateway's directives cannot
 * express it: it is enforced here, per field, with the identity the gateway forwards. A denied
 * field resolves to null with a `FORBIDDEN` error and the rest of the response is unaffected.
 */
export function createResolvers(store: AccountStore, service: AccountService): Resolvers {
  // Records that register/login returned in this request: their caller has just proved
  // ownership (a new account, or the password) but carries no identity yet. Keyed by object
  // identity, so nothing outlives the request or reaches another caller.
  const provenOwner = new WeakSet<AccountRecord>();
  const owned = (p: Promise<AuthPayload>): Promise<AuthPayload> =>
    p.then((payload) => {
      provenOwner.add(payload.account);
      return payload;
    });
  const privateField =
    <K extends "email" | "roles" | "disabledAt">(field: K): Resolver =>
    (parent, _args, ctx: SubgraphContext) => {
      const account = parent as AccountRecord;
      const id = ctx.identity;
      if (provenOwner.has(account) || id?.accountId === account.id || id?.roles.includes(ADMIN_ROLE)) return account[field];
      if (!id) throw unauthenticated();
      throw forbidden(`Account.${field} is visible to the account itself and admins only`);
    };

  return {
    DateTime: DateTimeScalar,
    Query: {
      me: typed<unknown>((_p, _a, ctx): Promise<AccountRecord | null> => {
        if (!ctx.identity) throw unauthenticated();
        return store.byId(ctx.identity.accountId);
      }),
      account: typed<unknown, { id: string }>((_p, { id }) => store.byId(id)),
    },
    Mutation: {
      register: typed<unknown, { input: RegisterInput }>((_p, { input }, ctx) => owned(service.register(input, ctx.headers))),
      login: typed<unknown, { email: string; password: string }>((_p, { email, password }) => owned(service.login(email, password))),
      refreshToken: typed<unknown, { refreshToken: string }>((_p, { refreshToken }, ctx) =>
        owned(service.refresh(refreshToken, ctx.headers)),
      ),
      logout: typed<unknown, { refreshToken?: string | null }>((_p, { refreshToken }, ctx) => {
        if (!ctx.identity) throw unauthenticated();
        return service.logout(ctx.identity, refreshToken ?? undefined, ctx.headers);
      }),
      disableAccount: typed<unknown, { id: string }>((_p, { id }, ctx) => service.setDisabled(ctx.identity, id, true, ctx.headers)),
      enableAccount: typed<unknown, { id: string }>((_p, { id }, ctx) => service.setDisabled(ctx.identity, id, false, ctx.headers)),
    },
    Account: {
      __resolveReference: reference((ref) => store.byId(ref.id)),
      email: privateField("email"),
      roles: privateField("roles"),
      disabledAt: privateField("disabledAt"),
    },
  };
}
