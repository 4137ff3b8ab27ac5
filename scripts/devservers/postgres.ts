import { chownSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { freePort, onExitCleanup, spawnServer, waitUntil, type ServerProcess } from "./proc.ts";

export interface PostgresServer {
  /** Base URL without a database: `postgres://postgres@127.0.0.1:<port>` */
  baseUrl: string;
  port: number;
  dir: string;
  /** URL of database `name`, e.g. `postgres://postgres@127.0.0.1:5433/catalog`. */
  urlFor(name: string): string;
  /** Creates a database (no-op when it exists) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /**
   * Stops the server (fast shutdown: a clean data directory) and removes the temp dir.
   * @param opts.keepDataIn moves the stopped cluster's data directory there first (a path that
   *   does not exist yet), for a later `startPostgres({ from })`.
   */
  stop(opts?: { keepDataIn?: string }): Promise<void>;
}

/**
 * Moves a stopped cluster's data directory `data` to `to` (a copy across file systems).
 * @throws Error (after removing `tempDir`) when the server did not shut down cleanly
 *   (`postmaster.pid` left behind) or the move fails.
 */
function keepData(data: string, to: string, tempDir: string): void {
  try {
    if (existsSync(join(data, "postmaster.pid"))) throw new Error(`postgres did not shut down cleanly: ${data} not kept`);
    try {
      renameSync(data, to);
    } catch (err) {
      if ((err as { code?: string }).code !== "EXDEV") throw err;
      const cp = Bun.spawnSync(["cp", "-a", data, to], { stdout: "pipe", stderr: "pipe" });
      if (cp.exitCode !== 0) throw new Error(`copy of ${data} to ${to} failed: ${cp.stderr.toString()}`);
    }
  } catch (err) {
    rmSync(tempDir, { recursive: true, force: true });
    throw err;
  }
}

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * A stopped cluster's data directory (as `stop({ keepDataIn })` leaves it) copied into the
   * temp dir instead of running initdb: the server starts on a copy, the original stays as it
   * is. Must come from the same PostgreSQL major version.
   */
  from?: string;
  /**
   * Server settings passed as `-c name=value` after the defaults (loopback only, fsync off,
   * 200 connections), e.g. `{ shared_buffers: "2GB" }` for a benchmark sized for its data.
   */
  settings?: Readonly<Record<string, string>>;
}

/** Finds Debian's PostgreSQL binaries (`/usr/lib/postgresql/<v>/bin`), newest version first. */
export function postgresBinDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) throw new Error("PostgreSQL not found: install the Debian package postgresql (apt-get install -y postgresql)");
  return join(base, versions[0], "bin");
}

/**
 * Starts a throwaway PostgreSQL cluster (initdb with trust auth for loopback, superuser
 * `postgres`; or a copy of `opts.from`) on a free loopback port with its data and socket in a
 * temp dir. As root the server runs as the `postgres` system user (PostgreSQL refuses to run
 * as root).
 * @throws Error when initdb or the copy of `opts.from` fails, or the server is not up in 30 s.
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), "switchyard-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number((await Bun.$`id -u postgres`.text()).trim());
    const gid = Number((await Bun.$`id -g postgres`.text()).trim());
    chownSync(dir, uid, gid);
  }
  const run = (cmd: string[]): string[] => (asRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd);
  // cp -a keeps the owner and the 0700 mode PostgreSQL insists on; --reflink shares blocks
  // where the file system can (a 1M-product cluster is gigabytes). Run as ourselves, not as
  // the server's user: `from` may sit below a directory only we can enter.
  const init = opts.from
    ? Bun.spawnSync(["cp", "-a", "--reflink=auto", opts.from, join(dir, "data")], { stdout: "pipe", stderr: "pipe" })
    : Bun.spawnSync(
        run([
          join(bin, "initdb"),
          "-D",
          join(dir, "data"),
          "-U",
          "postgres",
          "--auth=trust",
          "-E",
          "UTF8",
          "--locale=C.UTF-8",
          "--no-sync",
        ]),
        { stdout: "pipe", stderr: "pipe" },
      );
  if (init.exitCode !== 0) throw new Error(`${opts.from ? `copy of ${opts.from}` : "initdb"} failed: ${init.stderr.toString()}`);
  const port = await freePort();
  const server: ServerProcess = spawnServer(
    run([
      join(bin, "postgres"),
      "-D",
      join(dir, "data"),
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200",
      ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
    ]),
  );
  // runuser does not pass SIGKILL on to postgres: stop it with pg_ctl if we die first.
  const unregister = onExitCleanup(() => {
    Bun.spawnSync(run([join(bin, "pg_ctl"), "-D", join(dir, "data"), "stop", "-m", "immediate"]), { stdout: "ignore", stderr: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  });
  const baseUrl = `postgres://postgres@127.0.0.1:${port}`;
  await waitUntil(
    `postgres on ${port}`,
    async () => {
      const sql = postgres(`${baseUrl}/postgres`, { max: 1, connect_timeout: 1, onnotice: () => {} });
      try {
        await sql`select 1`;
        return true;
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    server,
    30_000,
  );
  return {
    baseUrl,
    port,
    dir,
    urlFor: (name) => `${baseUrl}/${name}`,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      const sql = postgres(`${baseUrl}/postgres`, { max: 1, onnotice: () => {} });
      try {
        const exists = await sql`select 1 from pg_database where datname = ${name}`;
        if (exists.length === 0) await sql.unsafe(`create database "${name}"`);
      } finally {
        await sql.end({ timeout: 1 });
      }
      return `${baseUrl}/${name}`;
    },
    async stop(stopOpts = {}) {
      unregister();
      // pg_ctl as the server's user: runuser does not forward every signal to the server.
      Bun.spawnSync(run([join(bin, "pg_ctl"), "-D", join(dir, "data"), "stop", "-m", "fast", "-w", "-t", "10"]), {
        stdout: "ignore",
        stderr: "ignore",
      });
      const t = setTimeout(() => server.proc.kill("SIGKILL"), 10_000);
      await server.proc.exited;
      clearTimeout(t);
      if (stopOpts.keepDataIn !== undefined) keepData(join(dir, "data"), stopOpts.keepDataIn, dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
