/**
 * Runs before `npm run dev`, `npm start`, `npm test` and `npm run emulator` (their `pre` scripts):
 * stops at once with one clear line when Node.js is older than package.json's engines, instead of
 * ERR_UNKNOWN_FILE_EXTENSION ".ts" or a crash inside a dependency. `npm ci` refuses on its own
 * (`engine-strict` in .npmrc). Plain JavaScript that any Node.js since 12 can parse.
 * CHECK_NODE_VERSION stands in for the running version (tests).
 */
import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const range = pkg.engines.node
const minimum = (/^>=\s*(\d+(?:\.\d+){0,2})$/.exec(range) || [])[1]
if (minimum === undefined) throw new Error(`package.json engines.node must be ">=x.y[.z]"; got "${range}"`)
const current = process.env.CHECK_NODE_VERSION || process.versions.node

function parts (version) {
  return version.replace(/^v/, '').split('.').map((n) => Number.parseInt(n, 10) || 0)
}

function atLeast (have, want) {
  for (let i = 0; i < 3; i++) {
    if ((have[i] || 0) !== (want[i] || 0)) return (have[i] || 0) > (want[i] || 0)
  }
  return true
}

if (!atLeast(parts(current), parts(minimum))) {
  process.stderr.write(`chat-token-broker needs Node.js >= ${minimum} (Node.js 24 LTS recommended); this is Node.js ${current.replace(/^v?/, 'v')}.\n`)
  process.exit(1)
}
