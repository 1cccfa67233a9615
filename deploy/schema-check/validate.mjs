#!/usr/bin/env node
// Validates Kubernetes manifests offline against the Kubernetes API's JSON schemas.
//
// The schemas come from the npm package kubernetes-models (generated from the Kubernetes OpenAPI
// spec and compiled to ajv validators): types, required fields, enums and formats are checked.
// Those schemas allow unknown fields, as the API's own OpenAPI spec does, so a misspelt or
// misplaced key (`readinesProbe`, `readOnlyRootFilesystem` at pod level) would pass. Strict mode
// closes that gap the way the API server's strict field validation does: every object is wrapped
// in a Proxy that records which properties the compiled validator reads. A generated validator
// reads every property its schema declares (and every key of a map, via additionalProperties),
// so a key that was never read is a key the schema does not know.
//
// usage: node validate.mjs FILE.yaml...      exit 0 when every document is valid, 1 otherwise
// Prints one line per problem: FILE: document N (Kind/name): /json/pointer: message
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseAllDocuments } from "yaml";

const require = createRequire(import.meta.url);

// apiVersion -> the kubernetes-models module holding its kinds ("v1" is the core group).
function modelModule(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  const path = group === null ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
  try {
    return require(path);
  } catch {
    return null;
  }
}

// A deep copy of `value` in which every object records the properties read from it.
function track(value, pointer, records) {
  if (Array.isArray(value)) return value.map((v, i) => track(v, `${pointer}/${i}`, records));
  if (value === null || typeof value !== "object") return value;
  const target = {};
  for (const [k, v] of Object.entries(value)) target[k] = track(v, `${pointer}/${escape(k)}`, records);
  const read = new Set();
  records.push({ pointer, keys: Object.keys(value), read });
  return new Proxy(target, {
    get(t, p, r) {
      if (typeof p === "string") read.add(p);
      return Reflect.get(t, p, r);
    },
  });
}

function escape(key) {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function validateDocument(doc) {
  const problems = [];
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return ["/: a manifest must be a mapping"];
  if (typeof doc.apiVersion !== "string" || typeof doc.kind !== "string")
    return ["/: apiVersion and kind are required strings"];
  const mod = modelModule(doc.apiVersion);
  const Model = mod && mod[doc.kind];
  if (typeof Model !== "function" || typeof Model.prototype.validate !== "function")
    return [`/: no schema for ${doc.apiVersion} ${doc.kind}`];
  const records = [];
  const tracked = track(doc, "", records);
  try {
    // The model's validate() runs the compiled schema validator on `this`.
    Model.prototype.validate.call(tracked);
  } catch (err) {
    const errors = Array.isArray(err.errors) ? err.errors : null;
    if (errors === null) problems.push(`/: ${err.message}`);
    else for (const e of errors) problems.push(`${e.instancePath || "/"}: ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`);
    return problems; // a failed validator may stop reading early: unknown-field results would be noise
  }
  for (const { pointer, keys, read } of records)
    for (const k of keys) if (!read.has(k)) problems.push(`${pointer}/${escape(k)}: unknown field "${k}"`);
  return problems;
}

function main(files) {
  if (files.length === 0) {
    console.error("usage: validate.mjs FILE.yaml...");
    return 2;
  }
  let failed = 0;
  let checked = 0;
  for (const file of files) {
    // YAML 1.1, as Kubernetes reads it (yes/no/on/off are booleans there).
    const docs = parseAllDocuments(readFileSync(file, "utf8"), { version: "1.1" });
    docs.forEach((d, i) => {
      if (d.errors.length !== 0) {
        for (const e of d.errors) console.log(`${file}: document ${i + 1}: YAML: ${e.message}`);
        ++failed;
        return;
      }
      const doc = d.toJS();
      if (doc === null) return; // an empty document (a trailing ---)
      ++checked;
      const what = `${doc.kind ?? "?"}/${doc.metadata?.name ?? "?"}`;
      const problems = validateDocument(doc);
      for (const p of problems) console.log(`${file}: document ${i + 1} (${what}): ${p}`);
      if (problems.length !== 0) ++failed;
    });
  }
  console.log(`${checked} document(s) checked, ${failed} invalid`);
  return failed === 0 && checked !== 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
