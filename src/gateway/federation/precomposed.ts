/**
 * Supergraphs composed when the binary was built, keyed like the composition cache
 * (`compositionKey` in composition-cache.ts: engine version + every subgraph's exact SDL).
 *
 * Composing the four modules is the largest single step of a first start (a few hundred ms),
 * and its result is a pure function of SDLs that are fixed at build time. scripts/build.ts
 * replaces this module's contents with the composition of the modules compiled in; running from
 * source it stays empty (the DATA_DIR cache applies). Should a subgraph's SDL differ at run time
 * (another module set, a changed module behind an old key), the key differs and composition
 * runs as before: an entry can only be used for exactly the SDLs it was composed from.
 */
export const PRECOMPOSED: Readonly<Record<string, string>> = {};
