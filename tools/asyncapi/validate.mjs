// Parse an AsyncAPI document with the official parser; print every diagnostic and exit 1 when
// any is an error (severity 0), 2 when the document cannot be read. Usage: node validate.mjs FILE
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}
let text;
try {
  text = readFileSync(file, "utf8");
} catch (err) {
  console.error(`cannot read ${file}: ${err.message}`);
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(text, { source: file });
const names = ["error", "warning", "information", "hint"];
let errors = 0;
for (const d of diagnostics) {
  if (d.severity === DiagnosticSeverity.Error) errors += 1;
  console.log(`${names[d.severity] ?? d.severity} ${d.code} at /${d.path.join("/")}: ${d.message}`);
}
if (errors > 0 || document === undefined) {
  console.log(`${file}: ${errors} error(s); not a valid AsyncAPI document`);
  process.exit(1);
}
const channels = document.channels().length;
const messages = document.components().messages().length;
console.log(`${file}: valid AsyncAPI ${document.version()} (${channels} channels, ${messages} messages, ${diagnostics.length} diagnostics)`);
