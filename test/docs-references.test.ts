/**
 * Every document the README and docs/ point at exists in the repository: relative Markdown links,
 * and file names quoted in backticks (`docs/deploy.md`, `nexconn-platform-api.md`). Regression:
 * docs/emulator.md cited a document that was never in the repo. Anchors into docs/ files must
 * name a heading of that file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import t from 'tap'
import { ROOT } from './deploy/helpers.ts'

const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

function files (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (['node_modules', '.git', 'dist', '.tap'].includes(entry.name)) return []
    const full = join(dir, entry.name)
    return entry.isDirectory() ? files(full) : [relative(ROOT, full)]
  })
}
const basenames = new Set(files(ROOT).map((f) => basename(f)))

/** GitHub's anchor for a heading. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

function anchors (path: string): Set<string> {
  const text = readFileSync(join(ROOT, path), 'utf8').replace(/^```[\s\S]*?^```/gm, '')
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)))
}

for (const doc of docs) {
  t.test(doc, async (t) => {
    const text = readFileSync(join(ROOT, doc), 'utf8')
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1] as string
      if (/^[a-z]+:/.test(target)) continue
      const [file = '', anchor] = target.split('#')
      const path = file === '' ? doc : relative(ROOT, join(ROOT, dirname(doc), file))
      t.ok(existsSync(join(ROOT, path)), `${doc}: link to ${target} (${path}) exists`)
      if (anchor !== undefined && anchor !== '' && path.endsWith('.md') && existsSync(join(ROOT, path))) {
        t.ok(anchors(path).has(anchor), `${doc}: #${anchor} is a heading of ${path}`)
      }
    }
    for (const match of text.matchAll(/`([\w./-]+\.md)`/g)) {
      const name = match[1] as string
      t.ok(existsSync(join(ROOT, name)) || existsSync(join(ROOT, dirname(doc), name)) || basenames.has(basename(name)), `${doc}: \`${name}\` is in the repository`)
    }
  })
}
