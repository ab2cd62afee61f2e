// Prints the Khronos glTF validator's JSON report for one .glb/.gltf file (offline).
// usage: node tools/node/validate_gltf.mjs FILE
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const validator = require("gltf-validator");

const file = process.argv[2];
const data = new Uint8Array(await readFile(file));
const report = await validator.validateBytes(data, {
  uri: file,
  maxIssues: 200,
  externalResourceFunction: () => Promise.reject(new Error("external resources are not allowed")),
});
console.log(JSON.stringify(report, null, 1));
