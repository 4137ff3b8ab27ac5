import { expect } from "bun:test";
import { gql } from "graphql-request";
import { client, expectCode, uniqueEmail } from "../helpers/client.ts";

/** Shapes returned by the operations below. */
export interface ProductNode {
  id: string;
  name: string;
  description: string;
  stock: number;
  price: { amount: string; cents: number; currency: string };
  category: { id: string; name: string };
}

export const ALL_PRODUCTS = gql`
  query All($first: Int, $after: String) {
    products(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id name description stock price { amount cents currency } category { id name } } }
    }
  }
`;
export const STOCK = gql`query Stock($id: ID!) { product(id: $id) { id stock } }`;
export const REGISTER = gql`
  mutation Register($input: RegisterInput!) { register(input: $input) { token account { id name email } } }
`;
export const LOGIN = gql`mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token account { id } } }`;
export const CREATE_ORDER = gql`
  mutation Create($input: CreateOrderInput!) { createOrder(input: $input) { id status total { amount cents currency } } }
`;
export const MY_ORDERS = gql`query { me { id orders { id } } }`;
export const PAY_ORDER = gql`
  mutation Pay($orderId: ID!, $token: String!) { payOrder(orderId: $orderId, payment: { token: $token }) { id status } }
`;
export const ORDER_WITH_PAYMENT = gql`
  query O($id: ID!) { order(id: $id) { id status total { cents } payment { id status amount { cents currency } providerReference } } }
`;

/** Lists every product through pagination (100 per page). */
export async function allProducts(url: string): Promise<ProductNode[]> {
  const c = client(url);
  const out: ProductNode[] = [];
  let after: string | null = null;
  for (;;) {
    const r: { products: { pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: ProductNode }[] } } =
      await c.request(ALL_PRODUCTS, { first: 100, after });
    out.push(...r.products.edges.map((e) => e.node));
    if (!r.products.pageInfo.hasNextPage) return out;
    after = r.products.pageInfo.endCursor;
  }
}

export async function stockOf(url: string, id: string): Promise<number> {
  const r = await client(url).request<{ product: { stock: number } }>(STOCK, { id });
  return r.product.stock;
}

/** Registers a fresh account; returns its token, id and credentials. */
export async function newAccount(
  url: string,
  name = "Ada Lovelace",
): Promise<{ token: string; id: string; email: string; password: string; name: string }> {
  const email = uniqueEmail();
  const password = "correct horse battery staple";
  const r = await client(url).request<{ register: { token: string; account: { id: string; email: string; name: string } } }>(REGISTER, {
    input: { name, email, password },
  });
  expect(r.register.account.email).toBe(email);
  return { token: r.register.token, id: r.register.account.id, email, password, name };
}

const WORD = /[A-Za-z]{6,}/g;

/** A word of the description that is not in the name (to prove search looks at descriptions). */
export function descriptionOnlyWord(p: ProductNode): string | undefined {
  const name = p.name.toLowerCase();
  return (p.description.match(WORD) ?? []).find((w) => !name.includes(w.toLowerCase()));
}

/**
 * The main job, as a user would do it through a real GraphQL client: register → login →
 * search → order two products → read the order across modules → see it in `me.orders` →
 * stock decreased by exactly the ordered quantities.
 */
export async function orderFlow(url: string): Promise<void> {
  const acc = await newAccount(url);
  const login = await client(url).request<{ login: { token: string; account: { id: string } } }>(LOGIN, {
    email: acc.email,
    password: acc.password,
  });
  expect(login.login.account.id).toBe(acc.id);
  const token = login.login.token;

  const products = await allProducts(url);
  expect(products.length).toBeGreaterThanOrEqual(50);
  const candidates = products.filter((p) => p.stock >= 5 && descriptionOnlyWord(p) && !p.name.startsWith("Limited Edition"));
  const [a, b] = candidates;
  if (!a || !b) throw new Error("seed catalog needs two products with stock >= 5");

  // Search by a word that appears only in the description.
  const word = descriptionOnlyWord(a) as string;
  const found = await client(url).request<{ products: { totalCount: number; edges: { node: { id: string } }[] } }>(
    gql`query Search($q: String!) { products(search: $q, first: 50) { totalCount edges { node { id } } } }`,
    { q: word },
  );
  expect(found.products.totalCount).toBeGreaterThan(0);
  expect(found.products.edges.map((e) => e.node.id)).toContain(a.id);

  const created = await client(url, token).request<{ createOrder: { id: string; status: string; total: { cents: number } } }>(
    CREATE_ORDER,
    {
      input: {
        items: [
          { productId: a.id, quantity: 2 },
          { productId: b.id, quantity: 1 },
        ],
      },
    },
  );
  expect(created.createOrder.status).toBe("PENDING");
  expect(created.createOrder.total.cents).toBe(2 * a.price.cents + b.price.cents);

  const order = await client(url, token).request<{
    order: {
      id: string;
      account: { name: string; email: string };
      items: {
        quantity: number;
        product: { id: string; name: string; category: { name: string } };
        unitPrice: { amount: string; cents: number };
      }[];
      total: { amount: string; cents: number; currency: string };
    };
  }>(
    gql`query Order($id: ID!) { order(id: $id) { id account { name email } items { quantity product { id name category { name } } unitPrice { amount cents } } total { amount cents currency } } }`,
    { id: created.createOrder.id },
  );
  expect(order.order.account).toEqual({ name: acc.name, email: acc.email });
  const byId = new Map(order.order.items.map((i) => [i.product.id, i]));
  expect(byId.get(a.id)?.product.name).toBe(a.name);
  expect(byId.get(a.id)?.product.category.name).toBe(a.category.name);
  expect(byId.get(a.id)?.unitPrice.amount).toBe(a.price.amount);
  expect(byId.get(b.id)?.unitPrice.amount).toBe(b.price.amount);
  const sum = order.order.items.reduce((s, i) => s + i.quantity * i.unitPrice.cents, 0);
  expect(order.order.total.cents).toBe(sum);
  expect(order.order.total.amount).toBe((sum / 100).toFixed(2));

  const me = await client(url, token).request<{ me: { id: string; orders: { id: string }[] } }>(MY_ORDERS);
  expect(me.me.orders.map((o) => o.id)).toEqual([created.createOrder.id]);

  expect(await stockOf(url, a.id)).toBe(a.stock - 2);
  expect(await stockOf(url, b.id)).toBe(b.stock - 1);
}

/** Asserts an unauthenticated createOrder is refused and writes nothing. */
export async function unauthenticatedOrderIsRefused(url: string): Promise<void> {
  const [p] = (await allProducts(url)).filter((x) => x.stock > 0);
  if (!p) throw new Error("no product in stock");
  await expectCode(client(url).request(CREATE_ORDER, { input: { items: [{ productId: p.id, quantity: 1 }] } }), "UNAUTHENTICATED");
  expect(await stockOf(url, p.id)).toBe(p.stock);
}
