/**
 * Prints the nats-server `authorization` block of a split deployment: one user per part
 * (gateway and each module of this binary) with the subject permissions generated from the
 * modules' contracts (src/kernel/bus/nats-permissions.ts). Passwords are read by nats-server
 * from its environment (`NATS_PASS_<PART>`), so the file holds no secret.
 *
 *   npm run --silent nats-permissions             # the config block (include it in nats-server.conf)
 *   npm run --silent nats-permissions -- --json   # permissions per part, as JSON
 *
 * Each process of the binary then connects with NATS_USER=<part> and NATS_PASS=<its password>.
 */
import type { Kernel } from "../src/kernel/kernel.ts";
import type { ModuleDefinition } from "../src/kernel/module.ts";
import {
  GATEWAY_PART,
  natsAuthorizationConfig,
  natsPermissions,
  type GatewayContract,
  type ModuleContract,
  type NatsUserSpec,
} from "../src/kernel/bus/nats-permissions.ts";
import { SESSION_SUBJECTS } from "../src/gateway/sessions.ts";
import { MODULES } from "../src/module-list.ts";

/** Every module definition of this binary (what each `register` hands the kernel). */
export function moduleContracts(): ModuleContract[] {
  const defs: ModuleDefinition[] = [];
  const collector = { addModule: (d: ModuleDefinition) => void defs.push(d) } as unknown as Kernel;
  for (const register of Object.values(MODULES)) register(collector);
  return defs.map(({ name, subjects, publishes, consumes, dependsOn }) => ({ name, subjects, publishes, consumes, dependsOn }));
}

/** What the gateway of this binary requests besides subgraphs (its session check). */
export function gatewayContract(): GatewayContract {
  return { calls: [SESSION_SUBJECTS.check] };
}

/** Name of the nats-server environment variable holding `part`'s password. */
export const passwordEnv = (part: string): string => `NATS_PASS_${part.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

if (import.meta.main) {
  const modules = moduleContracts();
  const parts = [GATEWAY_PART, ...modules.map((m) => m.name)];
  if (process.argv.includes("--json")) {
    process.stdout.write(
      `${JSON.stringify(Object.fromEntries(parts.map((p) => [p, natsPermissions([p], modules, gatewayContract())])), null, 2)}\n`,
    );
  } else {
    const users: NatsUserSpec[] = parts.map((p) => ({ user: p, password: { env: passwordEnv(p) }, parts: [p] }));
    process.stdout.write(natsAuthorizationConfig(users, modules, gatewayContract()));
  }
}
