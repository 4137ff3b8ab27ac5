/**
 * The architecture rules of src/ (dependency-cruiser), checked by tests/architecture/boundaries.test.ts
 * and `npm run depcruise`:
 * - no import cycle anywhere in src/ (type-only imports included: a cycle of types still ties
 *   the files' designs together);
 * - a module (src/modules/<m>/) reaches another module only through its contract/index.ts;
 * - the gateway and the kernel import no module, modules and the kernel never import the gateway
 *   (the gateway learns the modules from the registry; src/main.ts and src/module-list.ts, outside
 *   every module, are the only places that import modules' register entries);
 * - nothing in src/ imports tests/, scripts/ or bench/ (the binary ships src/ only).
 *
 * TypeScript is read with Babel's parser (scripts/depcruise-babel.cjs): dependency-cruiser reads
 * .ts only through the TypeScript compiler API up to 6.x or swc, and this project's TypeScript 7
 * has no compiler API.
 */
const { join } = require("node:path");

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Import cycles in src/ (type-only imports included).",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "module-internals",
      severity: "error",
      comment: "A module may import another module only through that module's contract/index.ts (its public surface).",
      from: { path: "^src/modules/([^/]+)/" },
      to: { path: "^src/modules/[^/]+/", pathNot: ["^src/modules/$1/", "^src/modules/[^/]+/contract/index\\.ts$"] },
    },
    {
      name: "gateway-imports-no-module",
      severity: "error",
      comment: "The gateway learns the modules from the registry and the bus, never from their code.",
      from: { path: "^src/gateway/" },
      to: { path: "^src/modules/" },
    },
    {
      name: "kernel-imports-no-module-or-gateway",
      severity: "error",
      comment: "The kernel is what modules and the gateway build on; it knows neither.",
      from: { path: "^src/kernel/" },
      to: { path: "^src/(modules|gateway)/" },
    },
    {
      name: "modules-import-no-gateway",
      severity: "error",
      comment: "Modules are subgraphs behind the bus; the gateway is not theirs to call.",
      from: { path: "^src/modules/" },
      to: { path: "^src/gateway/" },
    },
    {
      name: "src-imports-no-tests-or-scripts",
      severity: "error",
      comment: "The binary is built from src/ alone: nothing in it may import tests/, scripts/ or bench/.",
      from: { path: "^src/" },
      to: { path: "^(tests|scripts|bench)/" },
    },
  ],
  options: {
    // Dependencies outside src/ are recorded (the last rule needs them), not cruised further.
    doNotFollow: { path: ["node_modules", "^(tests|scripts|bench)/"] },
    // Absolute, so the rules can be run from another directory (the tests' fixture trees).
    babelConfig: { fileName: join(__dirname, "scripts", "depcruise-babel.cjs") },
    moduleSystems: ["es6"],
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"] },
  },
};
