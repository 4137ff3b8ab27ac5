/**
 * NATS users and subject permissions for a split deployment, generated from the modules'
 * contracts (their {@link ModuleDefinition}s: served `subjects`, `publishes`, `consumes`,
 * `dependsOn`), so that a process holding one part's credentials can do only what that part
 * does (https://docs.nats.io/running-a-nats-service/configuration/securing_nats/authorization):
 *
 * - a module serves `graphql.<name>`, `graphql.<name>.subscribe` and its own command subjects;
 *   requests the command subjects of the modules it depends on (order → `catalog.stock.*`,
 *   `payment.*`); publishes its own events (JetStream stream `EVENTS_<NAME>`, which it may create
 *   and update) and pulls/acks only its own durable consumers of the events it consumes;
 *   subscribes to its own and consumed event subjects (live subscriptions); replies to what it
 *   received (`allow_responses`) and publishes subscription-stream items to gateway inboxes;
 * - the gateway requests `graphql.>` (subgraphs join at run time) and the few module commands it
 *   declares ({@link GatewayContract}: `account.session.check`), talks to subscription-stream
 *   control inboxes, publishes `switchyard.>`, subscribes to every module event (response-cache
 *   invalidation), and uses JetStream for its KV buckets (rate limits), without stream or
 *   consumer deletion;
 * - every process receives only on its own inbox prefix `_INBOX.<part>.>`
 *   ({@link natsInboxPrefix}), so no module can read the replies sent to another part (e.g. the
 *   tokens `login` returns to the gateway).
 *
 * Everything not listed is denied. The gateway is the trust root in any case: it signs the
 * caller identity modules believe (see `../bus-identity.ts`).
 */
import type { ModuleDefinition } from "../module.ts";
import { consumerName } from "../events/shared.ts";

/** The parts of a module's definition that decide its permissions. */
export type ModuleContract = Pick<ModuleDefinition, "name" | "subjects" | "publishes" | "consumes" | "dependsOn">;

/**
 * What the gateway requests besides subgraphs: module command subjects it calls (e.g. the
 * account module's `account.session.check`). The gateway imports no module, so its own code
 * declares them (`src/gateway/sessions.ts`) and the caller of the generator passes them in.
 */
export interface GatewayContract {
  calls: readonly string[];
}

/** Permissions of one NATS user, in nats-server's configuration shape. */
export interface NatsUserPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  /** Publishing to the reply subject of a message received (one reply each). */
  allow_responses: boolean;
}

/** Name of the gateway part (MODULES=gateway). */
export const GATEWAY_PART = "gateway";

/** Stream holding a module's events (as `../events/jetstream/streams.ts` names it). */
const streamOf = (module: string): string => `EVENTS_${module.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

/**
 * Inbox prefix of a process running `parts` (nats.js `inboxPrefix`): `_INBOX.gateway` when it
 * runs the gateway, else `_INBOX.<modules sorted, joined by "-">`. Replies and subscription-stream
 * items addressed to the process arrive below it.
 */
export function natsInboxPrefix(parts: readonly string[]): string {
  if (parts.includes(GATEWAY_PART)) return `_INBOX.${GATEWAY_PART}`;
  return `_INBOX.${[...parts]
    .sort()
    .join("-")
    .replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

const uniq = (xs: Iterable<string>): string[] => [...new Set(xs)];

/** Permissions of one module, given every module of the deployment (to resolve dependencies and event producers). */
function modulePermissions(m: ModuleContract, all: readonly ModuleContract[], inbox: string): NatsUserPermissions {
  const byName = new Map(all.map((d) => [d.name, d]));
  const calls = m.dependsOn.flatMap((dep) => byName.get(dep)?.subjects ?? []);
  const publish = [...m.publishes, ...calls, `_INBOX.${GATEWAY_PART}.>`, "$JS.API.INFO"];
  if (m.publishes.length > 0) {
    const own = streamOf(m.name);
    publish.push(`$JS.API.STREAM.CREATE.${own}`, `$JS.API.STREAM.UPDATE.${own}`, `$JS.API.STREAM.INFO.${own}`);
  }
  if (m.consumes.length > 0) publish.push("$JS.API.STREAM.NAMES");
  for (const subject of m.consumes) {
    // The stream is the producer's; "*" when no module of this deployment declares the event.
    const producer = all.find((d) => d.publishes.includes(subject));
    const stream = producer ? streamOf(producer.name) : "*";
    const c = consumerName(m.name, subject);
    publish.push(
      `$JS.API.CONSUMER.CREATE.${stream}.${c}`,
      `$JS.API.CONSUMER.CREATE.${stream}.${c}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${c}`,
      `$JS.API.CONSUMER.INFO.${stream}.${c}`,
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${c}`,
      `$JS.ACK.${stream}.${c}.>`,
    );
  }
  const subscribe = [`graphql.${m.name}`, `graphql.${m.name}.subscribe`, ...m.subjects, ...m.publishes, ...m.consumes, `${inbox}.>`];
  return { publish: { allow: uniq(publish) }, subscribe: { allow: uniq(subscribe) }, allow_responses: true };
}

/** Permissions of the gateway. */
function gatewayPermissions(all: readonly ModuleContract[], gateway: GatewayContract, inbox: string): NatsUserPermissions {
  // Only commands some module of the deployment serves: the gateway cannot reach others' commands.
  const served = new Set(all.flatMap((m) => m.subjects));
  const publish = [
    "graphql.>",
    ...gateway.calls.filter((s) => served.has(s)),
    // Subscription-stream control (ping/cancel) goes to the serving module's inbox.
    "_INBOX.>",
    "switchyard.>",
    // JetStream KV (rate-limit buckets): create/bind the bucket stream, read and write keys.
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.CREATE.*",
    "$JS.API.STREAM.UPDATE.*",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.CREATE.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.>",
    "$JS.API.CONSUMER.INFO.>",
    "$JS.API.CONSUMER.MSG.NEXT.>",
    "$JS.ACK.>",
    "$KV.>",
  ];
  const subscribe = [`${inbox}.>`, "switchyard.>", ...all.flatMap((m) => m.publishes)];
  return { publish: { allow: uniq(publish) }, subscribe: { allow: uniq(subscribe) }, allow_responses: false };
}

/**
 * Permissions of the NATS user of a process running `parts` (one part per process in the
 * standard layout; several parts get the union). `modules` are every module of the deployment,
 * `gateway` what the gateway calls besides subgraphs.
 * @throws Error for a part that is neither the gateway nor one of `modules`.
 */
export function natsPermissions(
  parts: readonly string[],
  modules: readonly ModuleContract[],
  gateway: GatewayContract = { calls: [] },
): NatsUserPermissions {
  const inbox = natsInboxPrefix(parts);
  const each = parts.map((part) => {
    if (part === GATEWAY_PART) return gatewayPermissions(modules, gateway, inbox);
    const m = modules.find((d) => d.name === part);
    if (!m) throw new Error(`unknown part "${part}" (modules: ${modules.map((d) => d.name).join(", ")})`);
    return modulePermissions(m, modules, inbox);
  });
  return {
    publish: { allow: uniq(each.flatMap((p) => p.publish.allow)) },
    subscribe: { allow: uniq(each.flatMap((p) => p.subscribe.allow)) },
    allow_responses: each.some((p) => p.allow_responses),
  };
}

/** One NATS user of the deployment: its name, password, and the parts its process runs. */
export interface NatsUserSpec {
  user: string;
  /**
   * The password as written into the configuration: a literal (quoted for you), or
   * `{ env: "NAME" }` to make nats-server read it from its environment variable `NAME`.
   */
  password: string | { env: string };
  /** Parts its process runs; `"unrestricted"`: no permissions at all (an operator's user, never a part's). */
  parts: readonly string[] | "unrestricted";
}

/**
 * The `authorization { users = [...] }` block of a nats-server configuration for `users`, with
 * each user's {@link natsPermissions}. Include it in (or pass it as) the server's config file.
 */
export function natsAuthorizationConfig(
  users: readonly NatsUserSpec[],
  modules: readonly ModuleContract[],
  gateway: GatewayContract = { calls: [] },
): string {
  const q = (s: string): string => JSON.stringify(s);
  const list = (xs: readonly string[]): string => `[\n${xs.map((x) => `            ${q(x)}`).join(",\n")}\n          ]`;
  const blocks = users.map((u) => {
    const password = typeof u.password === "string" ? q(u.password) : `$${u.password.env}`;
    if (u.parts === "unrestricted")
      return [`    {`, `      # unrestricted (operators)`, `      user: ${q(u.user)}`, `      password: ${password}`, `    }`].join("\n");
    const p = natsPermissions(u.parts, modules, gateway);
    return [
      `    {`,
      `      # parts: ${u.parts.join(", ")}; inbox ${natsInboxPrefix(u.parts)}.>`,
      `      user: ${q(u.user)}`,
      `      password: ${password}`,
      `      permissions: {`,
      `        publish: { allow: ${list(p.publish.allow)} }`,
      `        subscribe: { allow: ${list(p.subscribe.allow)} }`,
      `        allow_responses: ${p.allow_responses}`,
      `      }`,
      `    }`,
    ].join("\n");
  });
  return `# Generated from the modules' contracts (src/kernel/bus/nats-permissions.ts); do not edit by hand.\nauthorization {\n  users = [\n${blocks.join(",\n")}\n  ]\n}\n`;
}
