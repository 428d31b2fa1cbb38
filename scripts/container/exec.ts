/**
 * Child processes for the container scripts: one place that runs a command, captures its output
 * and says which command failed and what it printed, so a failed setup step reads like a shell log.
 */
import { execFile, spawn, type SpawnOptions } from 'node:child_process'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Milliseconds; the command is killed after that. */
  timeoutMs?: number
  input?: string
}

export class CommandError extends Error {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number | null
  constructor (argv: string[], exitCode: number | null, stdout: string, stderr: string) {
    super(`${argv.join(' ')} failed (exit ${String(exitCode)}):\n${(stderr || stdout).trim().slice(-4000)}`)
    this.name = 'CommandError'
    this.stdout = stdout
    this.stderr = stderr
    this.exitCode = exitCode
  }
}

/** Runs a command and returns its stdout; throws CommandError with the output on failure. */
export async function capture (argv: string[], options: RunOptions = {}): Promise<string> {
  const [command, ...args] = argv
  if (command === undefined) throw new Error('empty command')
  if (options.input !== undefined) return await captureWithInput(argv, options)
  try {
    const { stdout } = await execFileAsync(command, args, { env: options.env ?? process.env, cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 256 * 1024 * 1024 })
    return stdout
  } catch (err) {
    const e = err as { code?: number | string, stdout?: string, stderr?: string }
    throw new CommandError(argv, typeof e.code === 'number' ? e.code : null, e.stdout ?? '', e.stderr ?? String(err))
  }
}

async function captureWithInput (argv: string[], options: RunOptions): Promise<string> {
  const [command, ...args] = argv as [string, ...string[]]
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code) => { if (code === 0) resolve(stdout); else reject(new CommandError(argv, code, stdout, stderr)) })
    child.stdin.end(options.input)
  })
}

/** true when the command exits 0 (output discarded). */
export async function succeeds (argv: string[], options: RunOptions = {}): Promise<boolean> {
  try {
    await capture(argv, options)
    return true
  } catch {
    return false
  }
}

/** Long-running children (apt, mmdebstrap), ended with the runner when it is interrupted. */
const running = new Set<ReturnType<typeof spawn>>()

export function killChildren (): void {
  for (const child of running) child.kill('SIGTERM')
}

/** Runs a command with its output shown (long steps: apt, mmdebstrap), throwing on failure. */
export async function show (argv: string[], options: RunOptions & { stdio?: SpawnOptions['stdio'] } = {}): Promise<void> {
  const [command, ...args] = argv
  if (command === undefined) throw new Error('empty command')
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: options.stdio ?? ['ignore', 'inherit', 'inherit'], timeout: options.timeoutMs })
    running.add(child)
    child.on('error', reject)
    child.on('close', (code) => {
      running.delete(child)
      if (code === 0) resolve(); else reject(new CommandError(argv, code, '', '(output above)'))
    })
  })
}

export function log (message: string): void {
  process.stdout.write(`==> ${message}\n`)
}
