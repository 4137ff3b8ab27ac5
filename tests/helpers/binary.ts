import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./topology.ts";

/**
 * Builds the standalone executable as `npm run build` does (bun build --compile, into a build
 * dir) and copies it to `<dir>/switchyard`, a directory WITHOUT node_modules, so that a test
 * runs what a deployment runs.
 * @returns the executable's path.
 * @throws Error with the build output when the build fails.
 */
export async function buildTestBinary(dir: string): Promise<string> {
  const build = Bun.spawn(["npm", "run", "--silent", "build"], {
    cwd: ROOT,
    env: { ...process.env, SWITCHYARD_OUTFILE: join(dir, "build", "switchyard") },
    stdout: "pipe",
    stderr: "pipe",
  });
  const code = await build.exited;
  if (code !== 0)
    throw new Error(`build failed (${code}):\n${await new Response(build.stdout).text()}\n${await new Response(build.stderr).text()}`);
  const bin = join(dir, "switchyard");
  copyFileSync(join(dir, "build", "switchyard"), bin);
  rmSync(join(dir, "build"), { recursive: true, force: true });
  return bin;
}
