/**
 * Regenerates the configuration table in README.md from `VARIABLES` (src/config.ts), between the
 * `config-table` markers. `npm run docs:config`; a test fails when the README is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { VARIABLES } from '../src/config.ts'

const GROUPS = {
  server: 'Server',
  nexconn: 'Nexconn',
  jwt: 'End-user JWTs',
  identity: 'Identity mapping',
  redis: 'Cache backend (Redis)',
  encryption: 'Token cache and encryption',
  operations: 'Operations'
} as const

export function configTable (): string {
  const sections = Object.entries(GROUPS).map(([group, title]) => {
    const rows = VARIABLES.filter((v) => v.group === group).map((v) =>
      `| \`${v.name}\` | ${v.default === undefined ? '—' : `\`${v.default}\``} | ${v.description}${v.secret === true ? ` *Secret: \`${v.name}_FILE\` also accepted.*` : ''} |`)
    return [`**${title}**`, '', '| variable | default | meaning |', '|---|---|---|', ...rows].join('\n')
  })
  return sections.join('\n\n')
}

const START = /<!-- config-table:start[^>]*-->\n/
const END = '<!-- config-table:end -->'

export function withTable (readme: string): string {
  const start = START.exec(readme)
  const end = readme.indexOf(END)
  if (start === null || end === -1) throw new Error('README.md has no config-table markers')
  return `${readme.slice(0, start.index + start[0].length)}\n${configTable()}\n\n${readme.slice(end)}`
}

if (import.meta.main) {
  const path = new URL('../README.md', import.meta.url)
  writeFileSync(path, withTable(readFileSync(path, 'utf8')))
}
