/**
 * Babel configuration with which dependency-cruiser reads TypeScript (.dependency-cruiser.cjs):
 * Babel's own parser understands TypeScript syntax, and the plugin below reduces each file to its
 * dependencies as plain JavaScript (`import "x"`, `import("x")`, `export * from "x"`), which
 * dependency-cruiser's JavaScript parser then reads. Type-only imports and `import("x").T` types
 * are kept as dependencies on purpose (see the cycle rule). No Babel preset is needed.
 */

/** @param {{ types: typeof import("@babel/types") }} babel */
function dependenciesOnly({ types: t }) {
  return {
    visitor: {
      Program(program) {
        /** @type {import("@babel/types").Statement[]} */
        const out = [];
        const add = (spec, dynamic) => {
          const source = t.stringLiteral(spec);
          out.push(dynamic ? t.expressionStatement(t.callExpression(t.import(), [source])) : t.importDeclaration([], source));
        };
        program.traverse({
          ImportDeclaration: (p) => add(p.node.source.value, false),
          ExportAllDeclaration: (p) => add(p.node.source.value, false),
          ExportNamedDeclaration: (p) => p.node.source && add(p.node.source.value, false),
          TSImportType: (p) => add(p.node.argument.value, false),
          CallExpression: (p) => {
            const [arg] = p.node.arguments;
            if (p.node.callee.type === "Import" && arg?.type === "StringLiteral") add(arg.value, true);
          },
          ImportExpression: (p) => p.node.source.type === "StringLiteral" && add(p.node.source.value, true),
        });
        program.node.body = out;
        program.node.directives = [];
        program.skip();
      },
    },
  };
}

module.exports = {
  babelrc: false,
  configFile: false,
  parserOpts: { plugins: ["typescript"] },
  plugins: [dependenciesOnly],
};
