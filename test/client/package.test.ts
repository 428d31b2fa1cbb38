/** The npm package as its users get it: built by its own config, with declarations, runnable as is. */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { jwtFor } from '../helpers/broker.ts'
import { buildClient, liveBroker, ROOT } from './helpers.ts'

const pkg = JSON.parse(readFileSync(join(ROOT, 'client', 'package.json'), 'utf8')) as Record<string, any>

t.test('package.json: ESM, zero runtime dependencies, exports and types pointing at the build', async (t) => {
  t.equal(pkg.name, 'chat-token-broker-client')
  t.equal(pkg.type, 'module')
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies']) t.equal(pkg[field], undefined, `no ${field}`)
  t.same(pkg.files, ['dist', 'src'], 'the build and the sources its source maps point at')
  t.same(pkg.exports['.'], { types: './dist/index.d.ts', default: './dist/index.js' })
  t.equal(pkg.types, './dist/index.d.ts')
})

t.test('the build emits JavaScript and declarations for every module; the built package gets a token from the broker', async (t) => {
  const out = await buildClient(t)
  const sources = readdirSync(join(ROOT, 'client', 'src')).filter((file) => file.endsWith('.ts')).map((file) => file.replace(/\.ts$/, ''))
  for (const name of sources) {
    t.ok(existsSync(join(out, `${name}.js`)), `${name}.js`)
    t.ok(existsSync(join(out, `${name}.d.ts`)), `${name}.d.ts`)
  }
  const declarations = readFileSync(join(out, 'index.d.ts'), 'utf8')
  t.match(declarations, /createTokenProvider/)
  t.match(readFileSync(join(out, 'provider.d.ts'), 'utf8'), /getToken: \(\) => Promise<TokenResponse>/)
  t.notMatch(readFileSync(join(out, 'index.js'), 'utf8'), /from '\.\/[a-z.]+\.ts'/, 'relative imports rewritten to .js')

  const client = await import(pathToFileURL(join(out, 'index.js')).href) as typeof import('../../client/src/index.ts')
  const broker = await liveBroker(t)
  const provider = client.createTokenProvider({ brokerUrl: broker.url, getAppJwt: () => jwtFor('built1') })
  const token = await provider.getToken()
  t.same(broker.emulator.tokenStatus(token.token), { valid: true, userId: 'built1' })
})

t.test('the token stays in memory: the package touches no storage and logs nothing', async (t) => {
  const out = await buildClient(t)
  for (const file of readdirSync(out).filter((name) => name.endsWith('.js'))) {
    const code = readFileSync(join(out, file), 'utf8')
    t.notMatch(code, /localStorage|sessionStorage|indexedDB|document\.cookie|AsyncStorage|caches\./, `${file}: no storage`)
    t.notMatch(code, /console\./, `${file}: no logging`)
  }
})
