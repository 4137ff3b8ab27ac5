import { ConfigError, defineOptions, int, type OptionsOf, option, parsed } from "../../kernel/index.ts";

/** Loose e-mail check (one @, no spaces, a dot in the domain), as registration's; trimmed, lower case. */
function parseAdminEmail(raw: string): string | undefined {
  if (raw === "") return undefined;
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !/^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/.test(email)) throw new ConfigError("an e-mail address");
  return email;
}

/** The account module's options: token lifetimes and the first admin account. */
export const accountOptions = defineOptions(
  "account",
  {
    /** Access-token lifetime in seconds. */
    jwtTtlS: option(int(60, 31_536_000), {
      env: "JWT_TTL_S",
      flag: "--jwt-ttl-s",
      default: "900",
      allowed: "60-31536000 (seconds)",
      describe: "Lifetime of issued access tokens, in seconds (short: refresh tokens renew them).",
    }),
    /** Refresh-token lifetime, seconds; each rotation issues a new one with a full lifetime. */
    refreshTokenTtlS: option(int(60, 31_536_000), {
      env: "REFRESH_TOKEN_TTL_S",
      flag: "--refresh-token-ttl-s",
      default: "2592000",
      allowed: "60-31536000 (seconds)",
      describe: "Lifetime of a refresh token (single use; each rotation issues a new one).",
    }),
    /** How often expired refresh tokens are deleted, seconds (they are refused anyway; this bounds the table). */
    refreshTokenPruneIntervalS: option(int(60, 86_400), {
      env: "REFRESH_TOKEN_PRUNE_INTERVAL_S",
      flag: "--refresh-token-prune-interval-s",
      default: "3600",
      allowed: "60-86400 (seconds)",
      describe: "How often each account instance deletes expired refresh tokens.",
    }),
    /** Account made admin at account-module start (with `adminPassword`); undefined = none. */
    adminEmail: option(parsed(parseAdminEmail), {
      env: "ADMIN_EMAIL",
      flag: "--admin-email",
      default: "",
      allowed: "an e-mail address (with ADMIN_PASSWORD)",
      describe:
        "First admin: the account module creates this account at start if missing (password ADMIN_PASSWORD) and grants it the admin role.",
    }),
    /** That account's password when it is created (>= 8 characters). */
    adminPassword: option(
      parsed((raw): string | undefined => {
        if (raw === "") return undefined;
        if ([...raw].length < 8) throw new ConfigError("at least 8 characters");
        return raw;
      }),
      {
        env: "ADMIN_PASSWORD",
        flag: "--admin-password",
        default: "",
        allowed: "at least 8 characters (with ADMIN_EMAIL)",
        describe: "Password of the ADMIN_EMAIL account when it is created; an existing account must already have it.",
      },
    ),
  },
  (o) => {
    if ((o.adminEmail === undefined) !== (o.adminPassword === undefined)) {
      throw new ConfigError("ADMIN_EMAIL and ADMIN_PASSWORD: set both (first admin account) or neither");
    }
  },
);

/** The account module's options, typed (`ctx.options`). */
export type AccountOptions = OptionsOf<typeof accountOptions>;
