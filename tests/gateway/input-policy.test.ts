import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startInProcess, type InProcessGateway } from "./harness.ts";

// A whole monolith in process on a loaded machine: bun's 5 s default is too short.
setDefaultTimeout(30_000);

/**
 * The text input policy (kernel/text.ts) through the gateway, on the in-process monolith:
 * names refuse control characters (NUL included), bidi controls, line separators and lone
 * surrogates with BAD_USER_INPUT and write nothing; accepted text is NFC-normalised and trimmed;
 * descriptions keep line feeds and tabs.
 */
const ADMIN = { email: "admin.policy@example.com", password: "admin policy password" };
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token account { id name } } }`;

/** One-line inputs the policy refuses, by what they carry. */
const BAD_NAMES: Record<string, string> = {
  NUL: "Ada\u0000Lovelace",
  "C0 bell": "Ada\u0007",
  "line feed": "Ada\nLovelace",
  tab: "Ada\tLovelace",
  DEL: "Ada\u007F",
  "C1 next line": "Ada\u0085Lovelace",
  "right-to-left override": "Ada\u202Egpj.exe",
  "line separator": "Ada\u2028Lovelace",
  "lone surrogate": "Ada\uD800",
};

describe("text input policy (in-process monolith)", () => {
  let gw: InProcessGateway;
  let admin: string;
  let categoryId: string;
  beforeAll(async () => {
    gw = await startInProcess({ nodeEnv: "production", adminEmail: ADMIN.email, adminPassword: ADMIN.password });
    const login = await gw.gql<{ login: { token: string } }>(
      `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
      { e: ADMIN.email, p: ADMIN.password },
    );
    admin = login.data?.login.token as string;
    const cats = await gw.gql<{ categories: { id: string }[] }>("{ categories { id } }");
    categoryId = cats.data?.categories[0]?.id as string;
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  }, 60_000);

  const codeAndField = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => [
    r.errors?.[0]?.extensions?.["code"],
    r.errors?.[0]?.extensions?.["field"],
  ];

  test("register: a name with control, bidi or separator characters or a lone surrogate is BAD_USER_INPUT and creates no account", async () => {
    for (const [what, name] of Object.entries(BAD_NAMES)) {
      const email = `policy.${crypto.randomUUID()}@example.com`;
      const refused = await gw.gql(REGISTER, { input: { name, email, password: "long enough pw" } });
      expect({ what, got: codeAndField(refused) }).toEqual({ what, got: ["BAD_USER_INPUT", "name"] });
      // Nothing was written: the same e-mail address registers afterwards.
      const again = await gw.gql<{ register: { account: { name: string } } }>(REGISTER, {
        input: { name: "Ada", email, password: "long enough pw" },
      });
      expect(again.errors).toBeUndefined();
    }
  });

  test("register: an e-mail address with a NUL is BAD_USER_INPUT", async () => {
    const r = await gw.gql(REGISTER, {
      input: { name: "Ada", email: `nul\u0000${crypto.randomUUID()}@example.com`, password: "long enough pw" },
    });
    expect(codeAndField(r)).toEqual(["BAD_USER_INPUT", "email"]);
  });

  test("register: names are stored NFC-normalised and trimmed", async () => {
    const r = await gw.gql<{ register: { account: { name: string } } }>(REGISTER, {
      input: { name: "  Ame\u0301lie  ", email: `nfc.${crypto.randomUUID()}@example.com`, password: "long enough pw" },
    });
    expect(r.errors).toBeUndefined();
    expect(r.data?.register.account.name).toBe("Am\u00e9lie");
  });

  test("categories: refused names write nothing; NFC makes composed and decomposed names the same (CONFLICT)", async () => {
    const count = async () => (await gw.gql<{ categories: unknown[] }>("{ categories { id } }")).data?.categories.length;
    const before = await count();
    for (const [what, name] of Object.entries(BAD_NAMES)) {
      const r = await gw.gql(`mutation($n: String!) { createCategory(name: $n) { id } }`, { n: name }, admin);
      expect({ what, got: codeAndField(r) }).toEqual({ what, got: ["BAD_USER_INPUT", "name"] });
    }
    expect(await count()).toBe(before);
    const first = await gw.gql<{ createCategory: { name: string } }>(
      `mutation($n: String!) { createCategory(name: $n) { name } }`,
      { n: "Cafe\u0301 Policy" },
      admin,
    );
    expect(first.data?.createCategory.name).toBe("Caf\u00e9 Policy");
    const second = await gw.gql(`mutation($n: String!) { createCategory(name: $n) { id } }`, { n: "Caf\u00e9 Policy" }, admin);
    expect(second.errors?.[0]?.extensions?.["code"]).toBe("CONFLICT");
  });

  test("products: bad names and descriptions write nothing; descriptions keep line feeds and tabs (CR LF becomes LF)", async () => {
    const total = async () => (await gw.gql<{ products: { totalCount: number } }>("{ products { totalCount } }")).data?.products.totalCount;
    const before = await total();
    const create = (name: string, description: string) =>
      gw.gql<{ createProduct: { id: string; name: string; description: string } }>(
        `mutation($i: CreateProductInput!) { createProduct(input: $i) { id name description } }`,
        { i: { name, description, priceCents: 100, categoryId, stock: 1 } },
        admin,
      );
    for (const [what, name] of Object.entries(BAD_NAMES)) {
      expect({ what, got: codeAndField(await create(name, "ok")) }).toEqual({ what, got: ["BAD_USER_INPUT", "name"] });
    }
    for (const description of ["nul\u0000", "bell\u0007", "c1\u0085", "rlo\u202E", "lone\uDC00"]) {
      expect({ description, got: codeAndField(await create("Policy product", description)) }).toEqual({
        description,
        got: ["BAD_USER_INPUT", "description"],
      });
    }
    expect(await total()).toBe(before);

    const ok = await create("  Policy\u00a0product  ", "Line one\r\nline two\twith a tab\n");
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.createProduct.name).toBe("Policy\u00a0product");
    expect(ok.data?.createProduct.description).toBe("Line one\nline two\twith a tab");
    const id = ok.data?.createProduct.id as string;
    const upd = await gw.gql(
      `mutation($id: ID!, $i: UpdateProductInput!) { updateProduct(id: $id, input: $i) { id } }`,
      { id, i: { name: "Renamed\u0000" } },
      admin,
    );
    expect(codeAndField(upd)).toEqual(["BAD_USER_INPUT", "name"]);
    const after = await gw.gql<{ product: { name: string } }>(`query($id: ID!) { product(id: $id) { name } }`, { id });
    expect(after.data?.product.name).toBe("Policy\u00a0product");
  });
});
