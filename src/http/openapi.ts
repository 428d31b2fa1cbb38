/**
 * OpenAPI 3.1 generated from the route schemas (`GET /openapi.json`), and a docs UI at `/docs`
 * unless `DOCS_ENABLED=false`. `docs/openapi.json` is the committed copy; a test keeps it in sync
 * (regenerate with `npm run openapi`).
 */
import { readFileSync } from 'node:fs'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { ERRORS } from '../errors.ts'

/** Where the docs UI and its static files live (routes outside our own schemas). */
export const DOCS_PREFIX = '/docs'

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

const DESCRIPTION = `Exchanges an app's own JWT for the user's Nexconn Chat access token.

Errors are \`application/problem+json\` with a stable \`code\`: ${Object.entries(ERRORS).map(([code, { status }]) => `\`${code}\` (${status})`).join(', ')}.`

export default fp<{ docsEnabled: boolean }>(async (app, { docsEnabled }) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'chat-token-broker', version, description: DESCRIPTION },
      tags: [
        { name: 'tokens', description: 'Nexconn access tokens for end users' },
        { name: 'admin', description: 'Operator API (only with ADMIN_API_KEY)' },
        { name: 'webhooks', description: 'Events from Nexconn (only with WEBHOOK_ENABLED)' },
        { name: 'health', description: 'Probes' }
      ],
      components: {
        securitySchemes: {
          appJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The app\'s own JWT for the end user.' },
          adminKey: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY.' }
        }
      }
    },
    // Keep schema names ($id) as component names instead of def-0, def-1.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })

  app.get('/openapi.json', { logLevel: 'warn', schema: { hide: true } }, async () => app.swagger())

  if (docsEnabled) {
    await app.register(swaggerUi, {
      routePrefix: DOCS_PREFIX,
      staticCSP: true,
      // The UI's own policy asks browsers to upgrade its requests to https, which leaves a blank
      // page on plain http://<host>:8080/docs (every address but localhost).
      transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/g, ''),
      // No badge from validator.swagger.io: it would send this API's description URL to a third party.
      uiConfig: { url: '/openapi.json', validatorUrl: null }
    })
  }
}, { name: 'openapi' })
