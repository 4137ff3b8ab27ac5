/**
 * The README's promises about Node: its graphql-ws client snippet (taken from README.md itself,
 * so the two cannot drift) runs under the Node version the README names, against a running
 * monolith; and every installed package's `engines.node` accepts that version (else `npm install`
 * prints EBADENGINE warnings for a Node the README calls enough).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { client } from "../helpers/client.ts";
import { startMonolith, ROOT, type Topology } from "../helpers/topology.ts";
import { allProducts, CREATE_ORDER, newAccount } from "../e2e/flows.ts";
import { eventually } from "../helpers/eventually.ts";

const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The minimum Node version the README states ("Node 20.17 or newer"), as x.y.z. */
function readmeNode(): string {
  const m = /only Node (\d+)(?:\.(\d+))?(?:\.(\d+))? or\s+newer/.exec(README);
  if (!m) throw new Error('README names no Node version ("only Node <x.y> or newer")');
  return `${m[1]}.${m[2] ?? 0}.${m[3] ?? 0}`;
}

/** The README's graphql-ws client code block. */
function wsSnippet(): string {
  const block = [...README.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "").find((code) => code.includes('from "graphql-ws"'));
  if (!block) throw new Error("no graphql-ws snippet in README.md");
  return block;
}

/** Every installed package (nested ones too): name, version, engines.node. */
function installedPackages(dir = join(ROOT, "node_modules"), out: { path: string; version: string; node: string | undefined }[] = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.name.startsWith("@")) {
      installedPackages(path, out);
      continue;
    }
    const manifest = join(path, "package.json");
    if (existsSync(manifest)) {
      const j = JSON.parse(readFileSync(manifest, "utf8")) as { version?: string; engines?: { node?: string } };
      out.push({ path: path.slice(ROOT.length + 1), version: j.version ?? "?", node: j.engines?.node });
    }
    if (existsSync(join(path, "node_modules"))) installedPackages(join(path, "node_modules"), out);
  }
  return out;
}

describe("Node version of the README", () => {
  test("every installed package's engines.node accepts it (no EBADENGINE on npm install)", () => {
    const version = readmeNode();
    const refused = installedPackages()
      .filter((p) => p.node !== undefined && !Bun.semver.satisfies(version, p.node))
      .map((p) => `${p.path}@${p.version} (engines.node ${p.node})`);
    expect(refused).toEqual([]);
  });

  test("package.json's engines.node starts at it (npm warns below the version the README names)", () => {
    const engines = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } }).engines.node;
    const [major, minor] = readmeNode().split(".").map(Number) as [number, number];
    expect(Bun.semver.satisfies(readmeNode(), engines)).toBe(true);
    expect(Bun.semver.satisfies(`${major}.${Math.max(minor - 1, 0)}.99`, engines)).toBe(minor === 0);
  });
});

describe("README graphql-ws snippet under the README's Node", () => {
  let t: Topology;
  let node: Bun.Subprocess | undefined;
  beforeAll(async () => {
    t = await startMonolith();
  }, 60_000);
  afterAll(async () => {
    node?.kill("SIGKILL");
    await t?.stop();
  });

  test("the system node is the README's major version", async () => {
    const v = Bun.spawnSync(["node", "--version"]).stdout.toString().trim();
    expect(v.replace(/^v/, "").split(".")[0]).toBe(readmeNode().split(".")[0]);
  });

  test("subscribes over WebSocket and prints the stock changes of a product", async () => {
    const products = await allProducts(t.graphqlUrl);
    const product = products.filter((p) => !p.name.startsWith("Limited")).sort((a, b) => b.stock - a.stock)[0];
    if (!product) throw new Error("no product");
    const buyer = await newAccount(t.graphqlUrl, "Readme Reader");
    // The snippet as it stands in the README, with its free variables `token` and `id` defined and
    // its URL pointed at this monolith; run by node as an ES module (bare imports resolve from ROOT).
    const code = `const token = process.env.TOKEN; const id = process.env.PRODUCT_ID;\n${wsSnippet().replace("ws://127.0.0.1:4000/graphql", t.graphqlUrl.replace("http:", "ws:"))}`;
    let out = "";
    node = Bun.spawn(["node", "--input-type=module", "-e", code], {
      cwd: ROOT,
      env: { ...process.env, TOKEN: buyer.token, PRODUCT_ID: product.id },
      stdout: "pipe",
      stderr: "pipe",
    });
    const pump = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const c of s) out += dec.decode(c, { stream: true });
    };
    void pump(node.stdout as ReadableStream<Uint8Array>);
    void pump(node.stderr as ReadableStream<Uint8Array>);
    // The subscription starts asynchronously: change the stock (an order of one unit, by a new
    // buyer each time) until the snippet prints the product, at most a few times.
    for (let i = 0; i < 8 && !out.includes(product.name); i++) {
      if (node.exitCode !== null) break;
      const who = i === 0 ? buyer : await newAccount(t.graphqlUrl, `Readme Reader ${i}`);
      await client(t.graphqlUrl, who.token).request(CREATE_ORDER, { input: { items: [{ productId: product.id, quantity: 1 }] } });
      await eventually("the snippet to print the product", () => out.includes(product.name), { timeoutMs: 2000, intervalMs: 100 }).catch(
        () => {}, // the next round changes the stock again
      );
    }
    expect(node.exitCode).toBeNull();
    expect(out).toContain(product.name);
    expect(out).toMatch(/stock: \d+/);
  }, 60_000);
});
