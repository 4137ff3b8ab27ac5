import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Returns the development JWT secret kept in `<dataDir>/jwt-secret`, creating it (48 random
 * bytes, base64url, file mode 0600) on first use, so tokens survive restarts without any
 * configuration. Production sets JWT_SECRET instead; every process of a split deployment must
 * share it.
 */
export function devJwtSecret(dataDir: string): { secret: string; created: boolean } {
  const file = join(dataDir, "jwt-secret");
  if (existsSync(file)) return { secret: readFileSync(file, "utf8").trim(), created: false };
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString("base64url");
  writeFileSync(file, secret + "\n", { mode: 0o600 });
  return { secret, created: true };
}
