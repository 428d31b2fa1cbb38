/**
 * Error `type` links resolve: every code in the catalogue has its own heading in docs/errors.md
 * (with the anchor GitHub gives it), the link base points at that file, and the document describes
 * no code that does not exist. A new code without a heading fails here.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ERRORS, PROBLEM_TYPE_BASE } from '../../src/errors.ts'
import { ROOT } from '../deploy/helpers.ts'

const markdown = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8')

/** GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

const sections = new Map<string, string>()
for (const part of markdown.split(/^## /m).slice(1)) {
  const [heading = '', ...body] = part.split('\n')
  sections.set(slug(heading), body.join('\n'))
}

t.test('PROBLEM_TYPE_BASE points at docs/errors.md in this repository', async (t) => {
  const match = /^https:\/\/github\.com\/[^/]+\/[^/]+\/blob\/main\/(.+)#$/.exec(PROBLEM_TYPE_BASE)
  t.ok(match, PROBLEM_TYPE_BASE)
  t.equal(match?.[1], 'docs/errors.md')
  t.ok(existsSync(join(ROOT, match?.[1] ?? 'missing')), 'the file exists')
})

t.test('one heading per code, with its status', async (t) => {
  for (const [code, { status }] of Object.entries(ERRORS)) {
    const section = sections.get(code)
    t.ok(section !== undefined, `docs/errors.md has a "## ${code}" heading (the anchor of ${PROBLEM_TYPE_BASE}${code})`)
    t.match(section ?? '', new RegExp(`\\*\\*${status}\\b`), `${code}: states status ${status}`)
  }
  for (const heading of sections.keys()) t.ok(heading in ERRORS, `"${heading}" is a code in src/errors.ts`)
})

t.test('the README links the error reference', async (t) => {
  t.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /\(docs\/errors\.md\)/)
})
