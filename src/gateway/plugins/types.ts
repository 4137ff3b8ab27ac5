import type { Plugin } from "graphql-yoga";
import type { GatewayContext } from "../context.ts";
import type { GatewayPartContext } from "../options.ts";

/**
 * Types shared by the gateway's plugins. Each plugin imports from here, never from index.ts
 * (which imports every plugin) or from another plugin, so the plugins form no import cycle.
 */

/** A yoga/envelop plugin of the gateway, typed for the gateway's per-request context. */
export type GatewayPlugin = Plugin<GatewayContext>;

/** The part of the supergraph manager (federation/manager.ts) plugins use; structural, so no plugin imports the manager. */
export interface SupergraphView {
  /** The served supergraph; null before the first one was loaded. */
  readonly current: { readonly version: number } | null;
  /** Calls `fn` after every supergraph swap; returns the unsubscribe function. */
  onChange(fn: () => void): () => void;
}

/** What every gateway plugin may need to set itself up (index.ts adds the shared budgets). */
export interface PluginSetup {
  /** The gateway part's context: validated config, logger, bus, registry, supergraph store. */
  part: GatewayPartContext;
  /** What plugins see of the supergraph manager: the served version and its swaps. */
  manager: SupergraphView;
  /**
   * Registers cleanup run when the gateway stops (after the HTTP server stopped accepting),
   * e.g. to unsubscribe from the bus. Errors are logged, not thrown.
   */
  onStop(fn: () => void | Promise<void>): void;
}
