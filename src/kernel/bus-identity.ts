import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import type { Headers } from "./bus/types.ts";
import { IDENTITY_HEADER, REQUEST_ID_HEADER, type Identity } from "./identity.ts";
import { Lru } from "./subgraph/lru.ts";
import { ConfigError, isDevelopment, type Config } from "./config.ts";

/**
 * Signed caller identity on the bus. The gateway is the only part that turns a client's JWT
 * into an {@link Identity}; it forwards that identity to subgraphs in the `sy-identity` header
 * as a token only holders of the bus signing key can produce, so a client that reaches NATS
 * directly cannot claim `roles: ["admin"]` by writing the header itself.
 *
 * Token: `v1.<payload>.<mac>`, both base64url; payload = JSON
 * `{ "sub": accountId, "roles": [...], "sid"?: sessionId, "rid": requestId, "exp": <ms since epoch> }`,
 * mac = HMAC-SHA256(key, "v1." + payload). Verification checks the MAC (constant time), the
 * expiry, and that `rid` equals the message's `sy-request-id` header.
 */

/** Version prefix of the token; a different one is refused. */
const VERSION = "v1";
/** HKDF `info` for the key derived from JWT_SECRET when BUS_SIGNING_KEY is unset. */
const DERIVE_INFO = "switchyard bus identity v1";

/** Why a `sy-identity` header was refused. */
export type IdentityRefusal = "malformed" | "bad-signature" | "expired" | "request-id-mismatch";

/** Outcome of {@link BusIdentity.verify}: `identity: null` when no header was sent (anonymous). */
export type IdentityCheck = { ok: true; identity: Identity | null } | { ok: false; reason: IdentityRefusal };

/** Options of {@link BusIdentity}: the shared key, the lifetime of a signed identity, the cache. */
export interface BusIdentityOptions {
  /** Shared signing key (BUS_SIGNING_KEY, or derived by {@link resolveBusSigningKey}); >= 32 characters. */
  key: string;
  /** Lifetime of a signed identity, ms (BUS_IDENTITY_TTL_MS): a header older than this is refused. */
  ttlMs: number;
  /** Clock, ms since epoch (tests). */
  now?: () => number;
  /** Verified headers kept (LRU) so repeated fetches of one request verify once; default 1024. */
  cacheSize?: number;
}

interface Verified {
  identity: Identity;
  rid: string;
  exp: number;
}

interface Signed {
  rid: string;
  header: string;
  /** Re-sign after this (ms since epoch): half the lifetime, so a reused header is never near expiry. */
  renewAt: number;
}

/**
 * Signs and verifies `sy-identity` headers with one shared key. One instance per process
 * (the kernel's): the HMAC key is prepared once, signatures are reused for the fetches of one
 * request (same identity object, same request id), and verified headers are cached briefly.
 */
export class BusIdentity {
  readonly ttlMs: number;
  readonly #key: Buffer;
  readonly #now: () => number;
  readonly #verified: Lru<string, Verified>;
  readonly #signed = new WeakMap<Identity, Signed>();

  /** @throws RangeError when `key` is shorter than 32 characters or `ttlMs` < 1. */
  constructor(opts: BusIdentityOptions) {
    if (opts.key.length < 32) throw new RangeError("bus signing key must have at least 32 characters");
    if (!(opts.ttlMs >= 1)) throw new RangeError("ttlMs must be >= 1");
    this.#key = Buffer.from(opts.key, "utf8");
    this.ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
    this.#verified = new Lru(opts.cacheSize ?? 1024);
  }

  /** A signed `sy-identity` value for `identity` in request `requestId`, valid for `ttlMs`. */
  sign(identity: Identity, requestId: string): string {
    const now = this.#now();
    const cached = this.#signed.get(identity);
    if (cached && cached.rid === requestId && now < cached.renewAt) return cached.header;
    const claims = {
      sub: identity.accountId,
      roles: identity.roles,
      ...(identity.sessionId ? { sid: identity.sessionId } : {}),
      rid: requestId,
      exp: now + this.ttlMs,
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
    const signed = `${VERSION}.${payload}`;
    const header = `${signed}.${this.#mac(signed).toString("base64url")}`;
    this.#signed.set(identity, { rid: requestId, header, renewAt: now + this.ttlMs / 2 });
    return header;
  }

  /**
   * Bus headers of a call made for a caller: the request id, and the signed identity when there
   * is a caller (anonymous calls carry none).
   */
  headers(identity: Identity | null | undefined, requestId: string | undefined): Headers {
    const headers: Headers = {};
    if (requestId) headers[REQUEST_ID_HEADER] = requestId;
    if (identity) headers[IDENTITY_HEADER] = this.sign(identity, requestId ?? "");
    return headers;
  }

  /**
   * Checks a received `sy-identity` header. No header: anonymous (`ok`, identity null). A header
   * that is not a well-formed token of this key, has expired, or names another request id than
   * the message's `sy-request-id` is refused: the caller must answer UNAUTHENTICATED and run
   * nothing. The returned identity is frozen (it may be shared by cached verifications).
   */
  verify(header: string | undefined, requestId: string | undefined): IdentityCheck {
    if (header === undefined || header === "") return { ok: true, identity: null };
    const now = this.#now();
    let v = this.#verified.get(header);
    if (v === undefined) {
      const parsed = this.#parse(header);
      if (typeof parsed === "string") return { ok: false, reason: parsed };
      v = parsed;
      // Only authentic tokens are cached: forged ones cannot push real entries out cheaply.
      this.#verified.set(header, v);
    }
    if (now >= v.exp) return { ok: false, reason: "expired" };
    if (v.rid !== (requestId ?? "")) return { ok: false, reason: "request-id-mismatch" };
    return { ok: true, identity: v.identity };
  }

  #mac(data: string): Buffer {
    return createHmac("sha256", this.#key).update(data).digest();
  }

  #parse(header: string): Verified | IdentityRefusal {
    const dot1 = header.indexOf(".");
    const dot2 = header.indexOf(".", dot1 + 1);
    if (dot1 < 0 || dot2 < 0 || header.indexOf(".", dot2 + 1) >= 0 || header.slice(0, dot1) !== VERSION) return "malformed";
    const mac = Buffer.from(header.slice(dot2 + 1), "base64url");
    const expected = this.#mac(header.slice(0, dot2));
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return "bad-signature";
    let p: { sub?: unknown; roles?: unknown; sid?: unknown; rid?: unknown; exp?: unknown };
    try {
      p = JSON.parse(Buffer.from(header.slice(dot1 + 1, dot2), "base64url").toString("utf8")) as typeof p;
    } catch {
      return "malformed";
    }
    if (
      typeof p !== "object" ||
      p === null ||
      typeof p.sub !== "string" ||
      !p.sub ||
      typeof p.rid !== "string" ||
      typeof p.exp !== "number" ||
      !Array.isArray(p.roles)
    )
      return "malformed";
    const roles = p.roles.filter((r): r is string => typeof r === "string");
    const identity: Identity = {
      accountId: p.sub,
      roles: Object.freeze(roles) as string[],
      ...(typeof p.sid === "string" && p.sid ? { sessionId: p.sid } : {}),
    };
    return { identity: Object.freeze(identity), rid: p.rid, exp: p.exp };
  }
}

/**
 * The bus signing key of this process: `busSigningKey` (BUS_SIGNING_KEY) when set, else one
 * derived from the JWT secret with HKDF-SHA256 (the monolith, and development split mode: every
 * process that shares JWT_SECRET derives the same key; split mode otherwise requires
 * BUS_SIGNING_KEY, see config).
 * @throws Error when neither is set.
 */
export function resolveBusSigningKey(config: { busSigningKey?: string | undefined; jwtSecret?: string | undefined }): string {
  if (config.busSigningKey) return config.busSigningKey;
  if (!config.jwtSecret) throw new Error("BUS_SIGNING_KEY (or JWT_SECRET to derive it from) must be set");
  return Buffer.from(hkdfSync("sha256", config.jwtSecret, "", DERIVE_INFO, 32)).toString("base64url");
}

/**
 * Checks at start that a process on NATS has BUS_SIGNING_KEY (checked where JWT_SECRET is, so
 * `--migrate`, which uses no bus, does not need it). Without it only NODE_ENV=development may
 * derive the key from JWT_SECRET: elsewhere a key derived from a secret every process already
 * holds is accepted only in the monolith, whose bus never leaves the process.
 * @throws ConfigError naming BUS_SIGNING_KEY.
 */
export function assertBusSigningKey(config: Pick<Config, "busSigningKey" | "bus" | "nodeEnv">, opts: { migrateOnly?: boolean } = {}): void {
  if (config.busSigningKey || opts.migrateOnly || config.bus.kind !== "nats" || isDevelopment(config)) return;
  throw new ConfigError(
    "BUS_SIGNING_KEY: must be set (at least 32 characters, the same in every process) when BUS is NATS, unless NODE_ENV=development",
  );
}
