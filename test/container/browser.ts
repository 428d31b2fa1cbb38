/**
 * Headless Chromium (Debian's package) against a page served on 127.0.0.1 under a host name:
 * `--host-resolver-rules` maps it to 127.0.0.1, so the page is not a "secure context" the way
 * localhost is, yet no traffic leaves the machine. Returns the DOM after scripts ran and keeps a
 * screenshot. Flags from ../shared: no background networking, no first-run or component updates.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { capture } from '../../scripts/container/exec.ts'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path))

function flags (profile: string, host: string): string[] {
  return [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable',
    `--host-resolver-rules=MAP ${host} 127.0.0.1, EXCLUDE localhost`,
    `--user-data-dir=${profile}`, '--window-size=1280,1000', '--virtual-time-budget=15000'
  ]
}

/** undefined when no Chromium is installed. */
export async function screenshotDocs (url: string, png: string): Promise<{ dom: string, kept: string } | undefined> {
  if (CHROMIUM === undefined) return undefined
  const host = new URL(url).hostname
  const profile = mkdtempSync(join(tmpdir(), 'ctb-chromium-'))
  try {
    const dom = await capture([CHROMIUM, ...flags(profile, host), '--dump-dom', url], { timeoutMs: 90_000 })
    await capture([CHROMIUM, ...flags(profile, host), `--screenshot=${png}`, url], { timeoutMs: 90_000 })
    const dir = process.env.CTB_CONTAINER_ARTIFACTS ?? tmpdir()
    mkdirSync(dir, { recursive: true })
    const kept = join(dir, basename(png))
    copyFileSync(png, kept)
    return { dom, kept }
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}
