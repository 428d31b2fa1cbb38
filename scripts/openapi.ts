/**
 * Writes docs/openapi.json from the route schemas of an app with every optional route enabled.
 * `npm run openapi`; a test fails when the committed file is out of date.
 */
import { writeFileSync } from 'node:fs'
import { pino } from 'pino'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'

export const OPENAPI_PATH = new URL('../docs/openapi.json', import.meta.url)

export async function generateOpenApi (): Promise<string> {
  const config = loadConfig({
    NEXCONN_APP_KEY: 'docs',
    NEXCONN_APP_SECRET: 'docs',
    NEXCONN_API_URLS: 'http://127.0.0.1:1',
    JWT_SECRET: 'x'.repeat(32),
    ADMIN_API_KEY: 'x'.repeat(32),
    WEBHOOK_ENABLED: 'true',
    LOG_LEVEL: 'silent'
  })
  const app = await buildApp(config, { logger: pino({ level: 'silent' }) })
  try {
    await app.ready()
    return `${JSON.stringify(app.swagger(), null, 2)}\n`
  } finally {
    await app.close()
  }
}

if (import.meta.main) {
  writeFileSync(OPENAPI_PATH, await generateOpenApi())
}
