// Makes sure the Debian packages the split-mode tests and `npm run start:split` need are
// installed: nats-server, etcd-server, postgresql (and wrk for the benchmark harness's smoke test). Installs them with apt-get when running as
// root; otherwise exits with the exact command to run. Never skips silently.
import { existsSync, readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";

const onPath = (bin) => spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;
const hasPostgres = () => {
  const base = "/usr/lib/postgresql";
  return existsSync(base) && readdirSync(base).some((v) => existsSync(`${base}/${v}/bin/initdb`) && existsSync(`${base}/${v}/bin/pg_ctl`));
};

/** Returns the missing Debian package names. */
export function missingPackages() {
  const missing = [];
  if (!onPath("nats-server")) missing.push("nats-server");
  if (!onPath("etcd")) missing.push("etcd-server");
  if (!hasPostgres()) missing.push("postgresql");
  // wrk: the HTTP load generator of bench/ (its smoke test runs in the suite).
  if (!onPath("wrk")) missing.push("wrk");
  return missing;
}

/** Installs what is missing (root) or exits 1 with the command to run. */
export function ensureSystemDeps() {
  const missing = missingPackages();
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) {
    console.error(
      `Missing Debian packages needed by the split-mode tests: ${missing.join(", ")}.\nInstall them with:\n  sudo sh -c '${cmd}'`,
    );
    process.exit(1);
  }
  console.log(`installing Debian packages: ${missing.join(" ")}`);
  const r = spawnSync("sh", ["-c", cmd], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  const still = missingPackages();
  if (r.status !== 0 || still.length) {
    console.error(`apt-get failed; still missing: ${still.join(", ")}`);
    process.exit(1);
  }
}
