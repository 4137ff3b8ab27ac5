import { transportOf } from "./bus/instrumented.ts";
import type { natsLink } from "./bus/nats.ts";
import type { Bus } from "./bus/types.ts";
import { breakers, type BreakerStateName } from "./policy/index.ts";
import type { Registry } from "./registry/types.ts";

/** Connection and breaker state of a process, as `GET /admin/health` reports it. */
export interface InfrastructureHealth {
  /** `state`: `connected` | `disconnected` | `closed` (NATS link state; memory: connected until closed). */
  bus: { transport: string; state: string };
  /** `state`: `connected` when a registry listing answered within `probeMs`, else `unreachable`. */
  registry: { kind: string; state: "connected" | "unreachable" };
  /** Circuit breakers of this process by target (`subgraph:<name>`, `subject:<subject>`). */
  breakers: Record<string, BreakerStateName>;
}

/**
 * Probes the bus and registry of this process and lists its circuit breakers.
 * Never throws; the registry probe waits at most `probeMs` (default 1000 ms).
 */
export async function infrastructureHealth(bus: Bus, registry: Registry, probeMs = 1000): Promise<InfrastructureHealth> {
  const inner = transportOf(bus) as Bus & { connection?: Parameters<typeof natsLink>[0] };
  // nats.ts (and nats.js) loaded only when there is a NATS connection: not on a monolith's start path.
  const busState = bus.closed
    ? "closed"
    : inner.connection
      ? (await import("./bus/nats.ts")).natsLink(inner.connection).state
      : "connected";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const registryOk = await Promise.race([
    registry.list().then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), probeMs))),
  ]);
  clearTimeout(timer);
  return {
    bus: { transport: bus.transport, state: busState },
    registry: { kind: registry.kind, state: registryOk ? "connected" : "unreachable" },
    breakers: breakers().states(),
  };
}
