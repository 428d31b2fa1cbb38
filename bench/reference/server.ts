/**
 * The reference of the hit-path benchmark: bare Fastify, no logger, no plugins, one `POST /v1/token`
 * answering the same JSON object a broker answered (same fields, same byte length), serialized per
 * request. Started as a child process exactly like the broker, so both are measured the same way.
 */
import Fastify from 'fastify'

const body: unknown = JSON.parse(process.env.REFERENCE_BODY ?? '{}')
const app = Fastify({ logger: false })

app.get('/livez', async () => ({ status: 'ok' }))
app.post('/v1/token', async () => body)

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
process.once('SIGTERM', () => { void app.close() })
