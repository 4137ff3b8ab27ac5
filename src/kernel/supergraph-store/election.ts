/**
 * Campaigning until elected: the retry of the aggregator election, on the call policy's
 * retry-until-done stage instead of a hand-rolled sleep loop.
 */
import { type LogSink, safeLog } from "../logger.ts";
import { retryUntilDone } from "../policy/stages.ts";
import type { Leadership, SupergraphStore } from "./types.ts";

/** Options of {@link campaignUntilElected}. */
export interface CampaignOptions {
  /** Checked before every attempt and after every failure: `true` gives up. */
  stopped: () => boolean;
  /** Receives one warning per failed campaign. */
  logger?: Pick<LogSink, "warn">;
  /** Wait between failed campaigns, ms (default 1000, constant: one candidate per gateway). */
  retryMs?: number;
}

/**
 * Joins `store`'s election `name` as `candidateId` and waits until this candidate leads. A
 * failed campaign (etcd unreachable, the lease lost while waiting) is logged and retried after
 * `retryMs`. A leadership won after `stopped()` turned true is resigned at once.
 * @returns the leadership, or `undefined` when stopped first. Never rejects.
 */
export async function campaignUntilElected(
  store: SupergraphStore,
  name: string,
  candidateId: string,
  opts: CampaignOptions,
): Promise<Leadership | undefined> {
  const retryMs = opts.retryMs ?? 1000;
  const leadership = await retryUntilDone(() => store.campaign(name, candidateId), {
    initialDelayMs: retryMs,
    maxDelayMs: retryMs,
    jitter: false,
    stopped: opts.stopped,
    onFailure: (err) => safeLog(opts.logger, "warn", { err }, `${name} election failed; retrying`),
  });
  if (leadership !== undefined && opts.stopped()) {
    await leadership.resign().catch(() => undefined);
    return undefined;
  }
  return leadership;
}
