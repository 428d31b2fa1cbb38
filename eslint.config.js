// One code style for src/, test/, bench/, scripts/ and client/: neostandard (the Fastify team's
// standard style) with TypeScript. `npm test` runs it; `npm run lint -- --fix` mends most findings.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'client/dist/**', 'artifacts/**', 'coverage/**', '.tap/**', 'bench/results/**', 'helm/**']
  }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited (its errors are handled inside).
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
