import { reference, typed } from "../../kernel/graphql/resolvers.ts";
import { money, type Money, type Resolvers, type SubgraphContext } from "../../kernel/index.ts";
import { BatchLoader } from "./loader.ts";
import { decodeCursor, encodeCursor, pageSize } from "./pagination.ts";
import { DateTimeScalar } from "../../kernel/graphql/scalars.ts";
import { SEARCH_COUNT_BOUND, searchTerms } from "./search.ts";
import { requireAdmin, type CatalogAdmin } from "./admin.ts";
import type { CreateProductInput, UpdateProductInput } from "./validation.ts";
import type { BoundedCount, CatalogStore, CategoryRecord, ProductFilter, ProductRecord } from "./storage/types.ts";

/** A `ProductConnection` as resolved; `filter` is kept for the lazy `totalCount`. */
interface Connection {
  edges: { node: ProductRecord; cursor: string }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  filter: ProductFilter;
  /** The count, once asked for (`totalCount` and `totalCountIsExact` share one query). */
  count?: Promise<BoundedCount>;
}

interface PageArgs {
  first?: number | null;
  after?: string | null;
}

interface ProductsArgs extends PageArgs {
  search?: string | null;
  categoryId?: string | null;
}

interface Loaders {
  products: BatchLoader<ProductRecord>;
  categories: BatchLoader<CategoryRecord>;
}

/**
 * The catalog's resolvers on a store. Entity lookups (`product`, `category`, and the
 * gateway's `_entities` batches) go through per-request batch loaders: one query per batch.
 */
export function createResolvers(store: CatalogStore, admin: CatalogAdmin): Resolvers {
  // Keyed by the per-request context object, so loaders (and their caches) live for one request.
  const perRequest = new WeakMap<SubgraphContext, Loaders>();
  const loaders = (ctx: SubgraphContext): Loaders => {
    let l = perRequest.get(ctx);
    if (!l) {
      l = {
        products: new BatchLoader((ids) => store.productsByIds(ids)),
        categories: new BatchLoader((ids) => store.categoriesByIds(ids)),
      };
      perRequest.set(ctx, l);
    }
    return l;
  };

  const connection = async (args: PageArgs, filter: ProductFilter): Promise<Connection> => {
    const first = pageSize(args.first);
    const order = filter.terms?.length ? "rank" : "name";
    const after = args.after ? decodeCursor(args.after, order) : undefined;
    const page = await store.listProducts({ ...filter, first, ...(after ? { after } : {}) });
    const edges = page.items.map((it) => ({ node: it.product, cursor: encodeCursor(it.position) }));
    return { edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null }, filter };
  };

  const countOf = (c: Connection): Promise<BoundedCount> => {
    c.count ??= store.countProductsBounded(c.filter, SEARCH_COUNT_BOUND);
    return c.count;
  };

  return {
    DateTime: DateTimeScalar,
    Query: {
      product: typed<unknown, { id: string }>((_, { id }, ctx) => loaders(ctx).products.load(id)),
      category: typed<unknown, { id: string }>((_, { id }, ctx) => loaders(ctx).categories.load(id)),
      categories: () => store.listCategories(),
      products: typed<unknown, ProductsArgs>((_, args) => {
        const terms = searchTerms(args.search);
        return connection(args, {
          ...(terms.length ? { terms } : {}),
          ...(args.categoryId != null ? { categoryId: args.categoryId } : {}),
        });
      }),
    },
    // Admin only: checked here too (requireAdmin), not only by the gateway's @requiresScopes.
    Mutation: {
      createCategory: typed<unknown, { name: string }>((_, { name }, ctx) => (requireAdmin(ctx.identity), admin.createCategory(name))),
      createProduct: typed<unknown, { input: CreateProductInput }>(
        (_, { input }, ctx) => (requireAdmin(ctx.identity), admin.createProduct(input, ctx.headers)),
      ),
      updateProduct: typed<unknown, { id: string; input: UpdateProductInput }>(
        (_, { id, input }, ctx) => (requireAdmin(ctx.identity), admin.updateProduct(id, input, ctx.headers)),
      ),
      setStock: typed<unknown, { productId: string; stock: number }>(
        (_, { productId, stock }, ctx) => (requireAdmin(ctx.identity), admin.setStock(productId, stock, ctx.headers)),
      ),
    },
    ProductConnection: {
      // Counted only when asked for: it is a second query. A search counts up to SEARCH_COUNT_BOUND.
      totalCount: typed<Connection>(async (c) => (await countOf(c)).count),
      totalCountIsExact: typed<Connection>(async (c) => (await countOf(c)).exact),
    },
    Product: {
      __resolveReference: reference((ref, ctx) => loaders(ctx).products.load(ref.id)),
      price: typed<ProductRecord>((p): Money => money(p.priceCents, p.currency)),
      inStock: typed<ProductRecord>((p) => p.stock > 0),
      category: typed<ProductRecord>((p): CategoryRecord => ({ id: p.categoryId, name: p.categoryName })),
    },
    Category: {
      __resolveReference: reference((ref, ctx) => loaders(ctx).categories.load(ref.id)),
      products: typed<CategoryRecord, PageArgs>((c, args) => connection(args, { categoryId: c.id })),
    },
  };
}
