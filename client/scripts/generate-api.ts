/**
 * Writes client/src/api.generated.ts from the broker's committed docs/openapi.json:
 * `npm run client:api`. Only what the client uses is taken from the spec (the token routes, the
 * token and problem bodies, the error codes per status), so an unrelated change elsewhere in the
 * spec does not churn the client. test/client/api-contract.test.ts fails when the committed file
 * is out of date, and the client's own code is typed against these names, so a change in the
 * API breaks the client's build instead of its users.
 */
import { readFileSync, writeFileSync } from 'node:fs'

export const OPENAPI_PATH = new URL('../../docs/openapi.json', import.meta.url)
export const GENERATED_PATH = new URL('../src/api.generated.ts', import.meta.url)

interface Schema {
  type?: string | string[]
  enum?: unknown[]
  anyOf?: Schema[]
  $ref?: string
  properties?: Record<string, Schema>
  required?: string[]
  description?: string
  format?: string
}

interface Spec {
  components: { schemas: Record<string, Schema> }
  paths: Record<string, Record<string, {
    requestBody?: { content: Record<string, { schema: Schema }> }
    responses: Record<string, { description: string, content?: Record<string, { schema: Schema }> }>
  }>>
}

const TOKEN_PATH = '/v1/token'

function fail (message: string): never {
  throw new Error(`docs/openapi.json: ${message}`)
}

/** The JSON kinds a value may have, for the client's runtime shape checks. */
function kinds (schema: Schema): string[] {
  if (schema.anyOf !== undefined) return [...new Set(schema.anyOf.flatMap(kinds))]
  if (schema.type === undefined) fail(`a schema without a type: ${JSON.stringify(schema)}`)
  const types = Array.isArray(schema.type) ? schema.type : [schema.type]
  return types.map((type) => (type === 'integer' ? 'number' : type))
}

/** A TypeScript type for the subset of JSON Schema the broker's bodies use. */
function tsType (schema: Schema): string {
  if (schema.$ref !== undefined) return schema.$ref.split('/').at(-1) ?? fail(`bad $ref ${schema.$ref}`)
  if (schema.enum !== undefined) return schema.enum.map((value) => `'${String(value)}'`).join(' | ')
  if (schema.anyOf !== undefined) return schema.anyOf.map(tsType).join(' | ')
  const kind = kinds(schema)
  if (kind.length !== 1 || kind[0] === 'object' || kind[0] === 'array') fail(`unsupported schema ${JSON.stringify(schema)}`)
  return kind[0] ?? fail('no type')
}

function docComment (text: string | undefined, indent: string): string[] {
  if (text === undefined || text === '') return []
  return [`${indent}/** ${text.replaceAll('*/', '* /').replaceAll('\n', ' ')} */`]
}

function objectType (name: string, schema: Schema, description: string | undefined, typeOverrides: Record<string, string> = {}): string[] {
  if (schema.properties === undefined) fail(`${name} has no properties`)
  const required = new Set(schema.required ?? [])
  const lines = [...docComment(description ?? schema.description, ''), `export interface ${name} {`]
  for (const [field, property] of Object.entries(schema.properties)) {
    lines.push(...docComment(property.description, '  '))
    lines.push(`  ${field}${required.has(field) ? '' : '?'}: ${typeOverrides[field] ?? tsType(property)}`)
  }
  lines.push('}')
  return lines
}

/** `{ field: ['string', 'null'] }`: what each field may hold ('absent' if optional), checked at run time. */
function fieldKinds (name: string, schema: Schema, typeName: string): string[] {
  const required = new Set(schema.required ?? [])
  const entries = Object.entries(schema.properties ?? {})
  const kindsOf = (field: string, property: Schema): string[] => [...kinds(property), ...(required.has(field) ? [] : ['absent'])]
  return [
    `/** The JSON kinds of each field of ${typeName}, for checking a response at run time. */`,
    `export const ${name} = {`,
    ...entries.map(([field, property], i) => `  ${field}: [${kindsOf(field, property).map((k) => `'${k}'`).join(', ')}]${i < entries.length - 1 ? ',' : ''}`),
    `} as const satisfies Record<keyof ${typeName}, readonly JsonKind[]>`
  ]
}

/** The codes named in a response description written by the broker's `problemResponse()`. */
function codesOf (description: string): string[] {
  return [...description.matchAll(/`([a-z_]+)`/g)].map((match) => match[1] ?? '')
}

export function generateApi (specText: string): string {
  const spec = JSON.parse(specText) as Spec
  const schemas = spec.components.schemas
  const tokenResponse = schemas.TokenResponse ?? fail('no TokenResponse schema')
  const problem = schemas.Problem ?? fail('no Problem schema')
  const post = spec.paths[TOKEN_PATH]?.post ?? fail(`no POST ${TOKEN_PATH}`)
  const requestSchema = post.requestBody?.content['application/json']?.schema ?? fail(`POST ${TOKEN_PATH} has no JSON body`)
  const problemCodes = problem.properties?.code?.enum?.map(String) ?? fail('Problem.code has no enum')

  if (post.responses['200']?.content?.['application/json']?.schema.$ref !== '#/components/schemas/TokenResponse') {
    fail(`POST ${TOKEN_PATH} 200 is not a TokenResponse`)
  }

  const errorCodes = (responses: Spec['paths'][string][string]['responses']): string[] => {
    const lines: string[] = []
    for (const [status, response] of Object.entries(responses)) {
      if (Number(status) < 400) continue
      const codes = codesOf(response.description)
      for (const code of codes) if (!problemCodes.includes(code)) fail(`${status} names unknown code ${code}`)
      lines.push(`  ${status}: [${codes.map((c) => `'${c}'`).join(', ')}]`)
    }
    return lines.map((line, i) => (i < lines.length - 1 ? `${line},` : line))
  }

  const out = [
    '/**',
    ' * The broker\'s HTTP contract, generated from docs/openapi.json by `npm run client:api`: do not',
    ' * edit. test/client/api-contract.test.ts fails when this file and the spec drift apart, and the',
    ' * client is typed against these names, so a change in the API breaks the client\'s build.',
    ' */',
    '',
    `export const TOKEN_PATH = '${TOKEN_PATH}'`,
    '',
    '/** A JSON value\'s kind; \'absent\' marks an optional field. */',
    'export type JsonKind = \'string\' | \'number\' | \'boolean\' | \'null\' | \'object\' | \'array\' | \'absent\'',
    '',
    ...objectType('TokenRequest', requestSchema, `Body of POST ${TOKEN_PATH}.`),
    '',
    ...objectType('TokenResponse', tokenResponse, `Answer of POST ${TOKEN_PATH} (200).`),
    '',
    ...fieldKinds('TOKEN_RESPONSE_FIELDS', tokenResponse, 'TokenResponse'),
    '',
    '/** Every error code the broker answers with (`Problem.code`). */',
    `export const PROBLEM_CODES = [${problemCodes.map((c) => `'${c}'`).join(', ')}] as const`,
    'export type ProblemCode = typeof PROBLEM_CODES[number]',
    '',
    ...objectType('Problem', problem, undefined, { code: 'ProblemCode' }),
    '',
    ...fieldKinds('PROBLEM_FIELDS', problem, 'Problem'),
    '',
    `/** The codes each error status of POST ${TOKEN_PATH} can carry. */`,
    'export const TOKEN_ERRORS = {',
    ...errorCodes(post.responses),
    '} as const satisfies Record<number, readonly ProblemCode[]>',
    ''
  ]
  return out.join('\n')
}

if (import.meta.main) {
  writeFileSync(GENERATED_PATH, generateApi(readFileSync(OPENAPI_PATH, 'utf8')))
}
