// Builds sdk/src into static/sdk/pulseboard.js (one minified IIFE) and prints its size.
// `node sdk/build.mjs` from the repository root; `make sdk` runs it when sdk/ changed.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const outfile = new URL("../static/sdk/pulseboard.js", import.meta.url).pathname;

await build({
  entryPoints: [new URL("src/index.js", import.meta.url).pathname],
  outfile,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "none",
});

const code = readFileSync(outfile);
console.log(`static/sdk/pulseboard.js: ${code.length} bytes minified, ${gzipSync(code, { level: 9 }).length} bytes gzipped`);
