import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { client, postGraphql, type GqlResponse } from "../helpers/client.ts";
import { selectedTopologies, TOPOLOGIES, type Topology } from "../helpers/topology.ts";
import { LOGIN, newAccount } from "./flows.ts";

/**
 * Authorization end to end, through the gateway: the first admin from ADMIN_EMAIL /
 * ADMIN_PASSWORD, admin-only catalog mutations (`@requiresScopes`), `@authenticated` fields,
 * and the per-object rule on `Account.email`. Unauthorized fields come back null with their
 * own error while the rest of the response is intact, so these tests read raw responses.
 */

const ADMIN_EMAIL = "root@switchyard.example";
const ADMIN_PASSWORD = "e2e admin password";

const post = postGraphql;
const errorsOf = (b: GqlResponse<unknown>): [string | undefined, (string | number)[] | undefined][] =>
  (b.errors ?? []).map((e) => [e.extensions?.code, e.path]);

const CREATE_CATEGORY = `mutation($name: String!) { createCategory(name: $name) { id name } }`;
const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id name price { cents currency } stock category { id name } } }`;
const SEARCH = `query($q: String!) { products(search: $q, first: 10) { edges { node { id name stock } } } }`;

for (const name of selectedTopologies()) {
  describe(`authorization end to end [${name}]`, () => {
    let t: Topology;
    let url: string;
    let adminToken: string;
    let customer: Awaited<ReturnType<typeof newAccount>>;
    let other: Awaited<ReturnType<typeof newAccount>>;
    const word = `zqauthz${Date.now().toString(36)}`;

    beforeAll(async () => {
      const start = TOPOLOGIES[name];
      if (!start) throw new Error(`unknown topology ${name}`);
      t = await start({ env: { ADMIN_EMAIL, ADMIN_PASSWORD } });
      url = t.graphqlUrl;
      customer = await newAccount(url, "Carla Customer");
      other = await newAccount(url, "Oscar Other");
      // Hooks default to 5 s whatever bunfig's timeout says; a split start takes longer on a busy machine.
    }, 120_000);
    afterAll(async () => {
      await t?.stop();
    }, 60_000);

    test("the admin from ADMIN_EMAIL/ADMIN_PASSWORD logs in and has the admin role", async () => {
      const r = await client(url).request<{ login: { token: string; account: { id: string } } }>(LOGIN, {
        email: ADMIN_EMAIL,
        password: ADMIN_PASSWORD,
      });
      adminToken = r.login.token;
      const me = await post<{ me: { email: string; roles: string[] } }>(url, "{ me { email roles } }", {}, adminToken);
      expect(me.body).toEqual({ data: { me: { email: ADMIN_EMAIL, roles: ["customer", "admin"] } } });
    });

    test("admin creates a category and a product; search finds it; update and setStock apply", async () => {
      const cat = await post<{ createCategory: { id: string; name: string } }>(url, CREATE_CATEGORY, { name: `Authz ${word}` }, adminToken);
      expect(cat.body.errors).toBeUndefined();
      const category = cat.body.data?.createCategory as { id: string; name: string };
      const created = await post<{ createProduct: { id: string; name: string } }>(
        url,
        CREATE_PRODUCT,
        {
          input: {
            name: `Moka ${word}`,
            description: "A stovetop espresso maker for the e2e suite.",
            priceCents: 3450,
            categoryId: category.id,
            stock: 7,
          },
        },
        adminToken,
      );
      expect(created.body as unknown).toEqual({
        data: {
          createProduct: { id: expect.any(String), name: `Moka ${word}`, price: { cents: 3450, currency: "USD" }, stock: 7, category },
        },
      });
      const id = (created.body.data as { createProduct: { id: string } }).createProduct.id;
      // Anyone (no token) finds it by a prefix of its name.
      const found = await post<{ products: { edges: { node: { id: string } }[] } }>(url, SEARCH, { q: word.slice(0, 7) });
      expect(found.body.data?.products.edges.map((e) => e.node.id)).toEqual([id]);

      const renamed = `Moka ${word}x`;
      const upd = await post(
        url,
        `mutation($id: ID!) { updateProduct(id: $id, input: { name: "${renamed}", priceCents: 3000 }) { name price { cents } } }`,
        { id },
        adminToken,
      );
      expect(upd.body).toEqual({ data: { updateProduct: { name: renamed, price: { cents: 3000 } } } });
      const st = await post(url, `mutation($id: ID!) { setStock(productId: $id, stock: 2) { stock inStock } }`, { id }, adminToken);
      expect(st.body).toEqual({ data: { setStock: { stock: 2, inStock: true } } });
      const after = await post<{ products: { edges: { node: { id: string; name: string; stock: number } }[] } }>(url, SEARCH, {
        q: `${word}x`,
      });
      expect(after.body.data?.products.edges.map((e) => e.node)).toEqual([{ id, name: renamed, stock: 2 }]);
    });

    test("customer calling createProduct: FORBIDDEN, null for that field only; the other root field runs", async () => {
      const cats = await post<{ categories: { id: string }[] }>(url, "{ categories { id } }");
      const categoryId = cats.body.data?.categories[0]?.id;
      const r = await post<{ createProduct: unknown; login: { account: { id: string } } }>(
        url,
        `mutation($input: CreateProductInput!, $email: String!, $password: String!) {
          createProduct(input: $input) { id }
          login(email: $email, password: $password) { account { id } }
        }`,
        {
          input: { name: `Forbidden ${word}`, description: "x", priceCents: 1, categoryId, stock: 1 },
          email: customer.email,
          password: customer.password,
        },
        customer.token,
      );
      expect(r.status).toBe(200);
      expect(r.body.data).toEqual({ createProduct: null, login: { account: { id: customer.id } } });
      expect(errorsOf(r.body)).toEqual([["FORBIDDEN", ["createProduct"]]]);
      // Nothing was created.
      const found = await post<{ products: { edges: unknown[] } }>(url, SEARCH, { q: `forbidden ${word}` });
      expect(found.body.data?.products.edges).toEqual([]);
    });

    test("customer: setStock, updateProduct and createCategory are FORBIDDEN too", async () => {
      const r = await post<Record<string, unknown>>(
        url,
        `mutation { createCategory(name: "Nope ${word}") { id } setStock(productId: "x", stock: 1) { id } }`,
        {},
        customer.token,
      );
      expect(r.body.data).toEqual({ createCategory: null, setStock: null });
      expect(errorsOf(r.body)).toEqual([
        ["FORBIDDEN", ["createCategory"]],
        ["FORBIDDEN", ["setStock"]],
      ]);
      const u = await post(url, `mutation { updateProduct(id: "x", input: { name: "y" }) { id } }`, {}, customer.token);
      expect(errorsOf(u.body)).toEqual([["FORBIDDEN", ["updateProduct"]]]);
    });

    test("no token: admin mutations and @authenticated fields are UNAUTHENTICATED; public fields still resolve", async () => {
      const m = await post(url, `mutation { createCategory(name: "Anon ${word}") { id } }`);
      expect(m.status).toBe(200);
      expect(m.body.data).toEqual({ createCategory: null });
      expect(errorsOf(m.body)).toEqual([["UNAUTHENTICATED", ["createCategory"]]]);
      const q = await post<{ me: unknown; categories: unknown[] }>(url, "{ me { id } categories { id } }");
      expect(q.body.data?.me).toBeNull();
      expect((q.body.data?.categories ?? []).length).toBeGreaterThan(0);
      expect(errorsOf(q.body)).toEqual([["UNAUTHENTICATED", ["me"]]]);
      const o = await post(url, `{ order(id: "x") { id } }`);
      expect(errorsOf(o.body)).toEqual([["UNAUTHENTICATED", ["order"]]]);
    });

    test("another account's email: null + FORBIDDEN, the rest of the response intact; own email visible", async () => {
      const r = await post<{ other: { id: string; name: string; email: string | null }; me: { id: string; email: string } }>(
        url,
        `query($id: ID!) { other: account(id: $id) { id name email } me { id email } }`,
        { id: other.id },
        customer.token,
      );
      expect(r.status).toBe(200);
      expect(r.body.data).toEqual({
        other: { id: other.id, name: "Oscar Other", email: null },
        me: { id: customer.id, email: customer.email },
      });
      expect(errorsOf(r.body)).toEqual([["FORBIDDEN", ["other", "email"]]]);
    });

    test("an admin reads any account's email", async () => {
      const r = await post(url, `query($id: ID!) { account(id: $id) { email } }`, { id: other.id }, adminToken);
      expect(r.body).toEqual({ data: { account: { email: other.email } } });
    });
  });
}
