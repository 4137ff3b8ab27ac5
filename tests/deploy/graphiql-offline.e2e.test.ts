/**
 * GraphiQL works offline: in development (`NODE_ENV=development`, where GraphiQL is on by
 * default) the page the process serves on `GET /graphql` to a browser references no script,
 * stylesheet or other asset on another host: everything is inlined (@graphql-yoga/render-graphiql).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startMonolith, type Topology } from "../helpers/topology.ts";

describe("GraphiQL in development", () => {
  let t: Topology;
  let html: string;
  let res: Response;
  beforeAll(async () => {
    t = await startMonolith({ env: { NODE_ENV: "development" } });
    res = await fetch(t.graphqlUrl, { headers: { accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" } });
    html = await res.text();
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  test("is served as HTML, with the GraphiQL application inside the page", () => {
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(html).toContain("<title>Switchyard</title>");
    // The application itself, not a loader for it: hundreds of kilobytes of inlined script.
    expect(html.length).toBeGreaterThan(500_000);
    expect(html).toMatch(/GraphiQL/);
  });

  test("loads nothing from another host (no CDN): no external src/href, no url(http...) or @import", () => {
    const host = new URL(t.graphqlUrl).host;
    const external = [...html.matchAll(/\b(?:src|href)\s*=\s*["'](https?:)?\/\/([^/"']+)/gi)].map((m) => m[2]).filter((h) => h !== host);
    expect(external).toEqual([]);
    expect(html).not.toMatch(/<script[^>]+src=["']https?:/i);
    expect(html).not.toMatch(/<link[^>]+href=["']https?:/i);
    expect(html).not.toMatch(/url\(\s*["']?https?:/i);
    expect(html).not.toMatch(/@import\s+["']?(url\()?\s*["']?https?:/i);
    for (const cdn of ["unpkg.com", "cdn.jsdelivr.net", "esm.sh", "cdnjs"]) expect(html).not.toContain(cdn);
  });

  test("the startup log says development", () => {
    expect(t.output()).toContain("switchyard started in development mode");
  });
});
