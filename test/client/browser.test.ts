/**
 * End to end in a real browser: Debian's Chromium driven by playwright-core opens the example
 * page, served from its own loopback origin, against the real broker on another. Screenshots go
 * to artifacts/ (gitignored), which CI keeps: client-example.png and client-example-error.png.
 *
 * In CI (CI=true) this test must run: a missing Chromium fails it. Elsewhere it is skipped with
 * a message when Chromium is missing (`apt-get install chromium`, or set CHROMIUM_PATH).
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import { startExampleServer } from '../../client/example/server.ts'
import { ISSUE } from '../helpers/broker.ts'
import { TEST_JWT_SECRET } from '../helpers/env.ts'
import { buildClient, liveBroker, ROOT } from './helpers.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = join(ROOT, 'artifacts')
// Headless on a closed network: no background traffic, no sandbox as root, a fresh profile (Playwright makes one).
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const WAIT = { timeout: 30_000 }

interface Teardown { teardown: (fn: () => unknown) => void }

async function launch (t: Teardown): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true })
  t.teardown(async () => { await browser.close() })
  return browser
}

/** The example page on its own origin and the broker on another, which allows the page's origin unless told otherwise. */
async function pageAndBroker (t: Teardown, options: { allowOrigin?: boolean } = {}): Promise<{ pageUrl: string, broker: Awaited<ReturnType<typeof liveBroker>> }> {
  const clientDir = await buildClient(t)
  let brokerUrl = ''
  const page = await startExampleServer({ brokerUrl: () => brokerUrl, jwtSecret: TEST_JWT_SECRET, clientDir })
  t.teardown(page.close)
  const broker = await liveBroker(t, { CORS_ORIGINS: options.allowOrigin === false ? 'http://127.0.0.1:1' : page.url })
  brokerUrl = broker.url
  return { pageUrl: page.url, broker }
}

async function signIn (tab: Page, user: string): Promise<void> {
  await tab.fill('#user', user)
  await tab.click('#sign-in')
}

if (!existsSync(CHROMIUM)) {
  if (process.env.CI === 'true') {
    t.fail(`no Chromium at ${CHROMIUM}: .ci/run installs Debian's chromium; in CI the browser test must run`)
  } else {
    t.plan(0, `skip: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)
  }
} else {
  t.test('the example page signs in from another origin, shows the token, shows the typed error while the broker fails, and recovers', async (t) => {
    const { pageUrl, broker } = await pageAndBroker(t)
    t.not(new URL(pageUrl).origin, new URL(broker.url).origin, 'page and broker on two origins')
    const browser = await launch(t)
    const tab = await browser.newPage()
    const pageErrors: string[] = []
    tab.on('pageerror', (error) => { pageErrors.push(error.message) })
    mkdirSync(ARTIFACTS, { recursive: true })

    await tab.goto(pageUrl)
    await signIn(tab, 'alice')
    await tab.waitForSelector('#status[data-status="ready"]', WAIT)
    const alice = await tab.textContent('#token') ?? ''
    t.same(broker.emulator.tokenStatus(alice), { valid: true, userId: 'alice' }, 'the page shows a token Nexconn accepts')
    t.equal(await tab.textContent('#app-key'), broker.emulator.appKey)
    t.ok(broker.seen.some((line) => /^OPTIONS \/v1\/token 204$/.test(line)), 'the browser sent a CORS preflight and the broker granted it')

    // Nexconn fails on every domain: the broker answers 503 upstream_unavailable with Retry-After.
    broker.emulator.addFault({ kind: 'status', status: 503, endpoint: ISSUE })
    await signIn(tab, 'bob')
    await tab.waitForSelector('#error[data-code="upstream_unavailable"]', WAIT)
    const shown = await tab.textContent('#error') ?? ''
    t.match(shown, /HTTP 503/, 'the status')
    t.match(shown, /Nexconn could not be reached/, 'the broker\'s detail: the error body was readable cross-origin')
    t.match(shown, /Retry-After 1 s/, 'the Retry-After header was readable cross-origin')
    t.match(shown, /retrying in/)
    await tab.screenshot({ path: join(ARTIFACTS, 'client-example-error.png'), fullPage: true })

    broker.emulator.clearFaults()
    await tab.waitForSelector('#status[data-status="ready"]', WAIT)
    const bob = await tab.textContent('#token') ?? ''
    t.same(broker.emulator.tokenStatus(bob), { valid: true, userId: 'bob' }, 'recovered without a reload once the fault cleared')
    t.equal(await tab.isHidden('#error'), true, 'the error is gone')

    // The chat SDK reports 31004: one forced refresh; a second report right after is not sent.
    await tab.click('#invalid-token')
    await tab.locator('#token').filter({ hasNotText: bob }).waitFor(WAIT)
    const refreshed = await tab.textContent('#token') ?? ''
    t.same(broker.emulator.tokenStatus(refreshed), { valid: true, userId: 'bob' })
    const forced = broker.requests.filter((r) => r.forceRefresh).length
    await tab.click('#invalid-token')
    await tab.waitForSelector('#error[data-code="refresh_throttled"]', WAIT)
    t.equal(broker.requests.filter((r) => r.forceRefresh).length, forced, 'no request for the second 31004')
    t.equal(forced, 1)

    await tab.screenshot({ path: join(ARTIFACTS, 'client-example.png'), fullPage: true })
    t.same(pageErrors, [], 'no uncaught error in the page')
  })

  t.test('a page from an origin the broker does not allow gets a typed network_error (the browser blocks the answer)', async (t) => {
    const { pageUrl, broker } = await pageAndBroker(t, { allowOrigin: false })
    const browser = await launch(t)
    const tab = await browser.newPage()
    await tab.goto(pageUrl)
    await signIn(tab, 'carol')
    await tab.waitForSelector('#error[data-code="network_error"]', WAIT)
    t.match(await tab.textContent('#error'), /no HTTP answer/)
    t.notOk(broker.seen.some((line) => line.startsWith('POST')), 'the preflight was refused, so the token request was never sent')
  })
}
