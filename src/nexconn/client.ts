/**
 * The Nexconn Platform API client: one call = quota admission, then signed attempts across the
 * domains until one answers usefully, the call's deadline passes or Nexconn refuses the request.
 *
 *   plan domains → for each attempt: acquire quota slot → sign → attempt (undici) → classify
 *     ok                 → domain healthy, return
 *     rejected           → domain healthy, throw (never retried: every domain would say the same)
 *     429 / 1008         → shared back-off, then one more try if the deadline allows
 *     domain failure     → demote the domain, next domain
 *     request failure    → the server failed this call only: next domain, none demoted, no second round
 */
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Pool } from 'undici'
import type { Config } from '../config.ts'
import { NexconnError, type NexconnFailure } from '../errors.ts'
import { DomainSet } from './domains.ts'
import { Quota } from './quota.ts'
import { classify, issuedToken, KNOWN_CODES } from './responses.ts'
import { requestIdFor, signedHeaders } from './signing.ts'
import { attempt, createPool, type AttemptResult } from './transport.ts'
import { checkText, checkUserId, MAX_AVATAR_URL_BYTES, MAX_NAME_CHARS } from './input.ts'
import { defaultTuning, ENDPOINTS, EXPIRE_BATCH_SIZE, type NexconnTuning } from './tuning.ts'
import type { AttemptOutcome, CallOptions, IssueTokenInput, NexconnClient, NexconnDeps, NexconnHealth, NexconnHooks } from './types.ts'

interface Target { pool: Pool, basePath: string }

/** A call that fails for one of these makes health() report degraded until a call succeeds. */
const OVERALL_FAILURES: ReadonlySet<NexconnFailure> = new Set(['unavailable', 'invalid_response', 'credentials', 'not_enabled'])
/** An operator must fix these; logged at error level once per change. */
const OPERATOR_PROBLEMS: ReadonlySet<NexconnFailure> = new Set(['credentials', 'not_enabled'])
/**
 * Retry-After when the server failed one request on every domain: a glitch may pass, but a client
 * retrying every second would only repeat a failure that is probably about this user.
 */
export const SERVER_ERROR_RETRY_AFTER_S = 30
/** Unknown business codes are logged once each; past this many distinct ones, no more lines. */
const MAX_LOGGED_UNKNOWN_CODES = 100

export function createNexconnClient (config: Config['nexconn'], deps: NexconnDeps): NexconnClient {
  return new Client(config, deps)
}

class Client implements NexconnClient {
  readonly #config: Config['nexconn']
  readonly #tuning: NexconnTuning
  readonly #logger: Logger
  readonly #hooks: NexconnHooks
  readonly #now: () => number
  readonly #domains: DomainSet
  readonly #targets: Target[]
  readonly #quota: Quota
  readonly #userDisabledCodes: ReadonlySet<number>
  readonly #loggedUnknownCodes = new Set<number>()
  /** Calls under way; close() lets them settle (each is bounded by its deadline) before closing. */
  readonly #inFlight = new Set<Promise<unknown>>()
  #lastCallFailed = false
  #operatorProblem: NexconnFailure | undefined
  #closed = false

  constructor (config: Config['nexconn'], deps: NexconnDeps) {
    if (config.appKey === '' || config.appSecret === '') throw new Error('Nexconn client: App Key and App Secret are required')
    this.#config = config
    this.#userDisabledCodes = new Set(config.userDisabledCodes)
    const defaults = defaultTuning(config)
    this.#tuning = { ...defaults, ...deps.tuning, limits: { ...defaults.limits, ...deps.tuning?.limits } }
    this.#logger = deps.logger.child({ component: 'nexconn' })
    this.#hooks = deps.hooks ?? {}
    this.#now = deps.now ?? Date.now
    const tuning = this.#tuning
    this.#domains = new DomainSet(config.apiUrls, {
      coolOffMs: tuning.coolOffMs,
      now: this.#now,
      logger: this.#logger,
      onChange: (domain, state) => { this.#hook(() => this.#hooks.onDomainState?.({ domain, state })) }
    })
    this.#targets = config.apiUrls.map((url) => {
      const parsed = new URL(url)
      return {
        pool: createPool(parsed.origin, {
          connections: tuning.connections,
          keepAliveMs: tuning.keepAliveMs,
          maxRequestsPerConnection: tuning.maxRequestsPerConnection,
          connectTimeoutMs: tuning.connectTimeoutMs,
          timeoutMs: config.timeoutMs,
          maxBodyBytes: tuning.maxBodyBytes
        }),
        basePath: parsed.pathname.replace(/\/+$/, '')
      }
    })
    this.#quota = new Quota({
      limits: tuning.limits,
      defaultLimit: tuning.defaultLimit,
      windowMs: tuning.windowMs + tuning.windowMarginMs,
      holdMs: config.deadlineMs + 1000,
      maxQueue: tuning.maxQueue,
      minAttemptMs: tuning.minAttemptMs,
      ...(deps.redis === undefined ? {} : { redis: deps.redis }),
      redisPrefix: `${deps.redisKeyPrefix ?? ''}nexconn:quota:${config.appKey}:`,
      ...(deps.fleetSize === undefined ? {} : { fleetSize: deps.fleetSize }),
      redisTimeoutMs: tuning.redisTimeoutMs,
      redisRetryMs: tuning.redisRetryMs,
      redisPollMs: tuning.redisPollMs,
      now: this.#now,
      logger: this.#logger,
      onWait: (e) => { this.#hook(() => this.#hooks.onQuotaWait?.(e)) }
    })
  }

  async issueToken (input: IssueTokenInput, options: CallOptions = {}): Promise<{ userId: string, token: string }> {
    checkUserId(input.userId)
    checkText(input.name, 'name', MAX_NAME_CHARS, true)
    if (input.avatarUrl !== undefined) checkText(input.avatarUrl, 'avatarUrl', MAX_AVATAR_URL_BYTES, false)
    const payload: Record<string, string> = { userId: input.userId, name: input.name }
    if (input.avatarUrl !== undefined && input.avatarUrl !== '') payload.avatarUrl = input.avatarUrl
    return await this.#call(ENDPOINTS.issue, payload, (body) => issuedToken(body, input.userId), options)
  }

  async expireTokens (userIds: string[], expiresAt: number, options: CallOptions = {}): Promise<void> {
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new NexconnError('bad_parameter', 'expiresAt must be a time in milliseconds since the epoch.')
    const unique = [...new Set(userIds)]
    unique.forEach(checkUserId)
    // Sequential batches: one batch at a time stays far under the expire quota and keeps order.
    for (let i = 0; i < unique.length; i += EXPIRE_BATCH_SIZE) {
      const batch = unique.slice(i, i + EXPIRE_BATCH_SIZE)
      await this.#call(ENDPOINTS.expire, { userIds: batch, expiresAt }, () => true, options)
    }
  }

  async updateUser (input: { userId: string, name?: string, avatarUrl?: string }, options: CallOptions = {}): Promise<void> {
    checkUserId(input.userId)
    const payload: Record<string, string> = { userId: input.userId }
    if (input.name !== undefined) {
      checkText(input.name, 'name', MAX_NAME_CHARS, true)
      payload.name = input.name
    }
    if (input.avatarUrl !== undefined) {
      checkText(input.avatarUrl, 'avatarUrl', MAX_AVATAR_URL_BYTES, false)
      payload.avatarUrl = input.avatarUrl
    }
    await this.#call(ENDPOINTS.userUpdate, payload, () => true, options)
  }

  health (): NexconnHealth {
    return {
      status: this.#lastCallFailed || this.#domains.primaryDemoted() ? 'degraded' : 'ok',
      domains: this.#domains.snapshot()
    }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // New calls are refused from now on; those under way finish (within their deadline) first, so a
    // request still being answered at shutdown is not failed by the client closing under it.
    await Promise.allSettled(this.#inFlight)
    this.#quota.close()
    await Promise.all(this.#targets.map(async (target) => { await target.pool.close() }))
  }

  async #call<T> (endpoint: string, payload: object, accept: (body: Record<string, unknown>) => T | undefined, options: CallOptions): Promise<T> {
    if (this.#closed) throw new NexconnError('unavailable', 'The Nexconn client is closed.')
    const call = this.#run(endpoint, payload, accept, options)
    this.#inFlight.add(call)
    try {
      return await call
    } finally {
      this.#inFlight.delete(call)
    }
  }

  async #run<T> (endpoint: string, payload: object, accept: (body: Record<string, unknown>) => T | undefined, options: CallOptions): Promise<T> {
    const budgetMs = Math.max(1, Math.min(options.deadlineMs ?? this.#config.deadlineMs, this.#config.deadlineMs))
    const deadlineAt = this.#now() + budgetMs
    const deadline = new AbortController()
    // Not unref'd: a pending call keeps the process alive, and the timer is cleared when it ends.
    const timer = setTimeout(() => { deadline.abort(new DOMException('Nexconn call deadline', 'TimeoutError')) }, budgetMs)
    const signal = options.signal === undefined ? deadline.signal : AbortSignal.any([deadline.signal, options.signal])
    const plan = this.#domains.plan()
    try {
      const value = await this.#attempts(endpoint, JSON.stringify(payload), accept, {
        order: plan.order, deadlineAt, signal, caller: options.signal, requestId: requestIdFor(options.requestId)
      })
      this.#callSucceeded()
      return value
    } catch (err) {
      if (err instanceof NexconnError) this.#callFailed(err)
      throw err
    } finally {
      plan.done()
      clearTimeout(timer)
    }
  }

  async #attempts<T> (
    endpoint: string,
    body: string,
    accept: (body: Record<string, unknown>) => T | undefined,
    call: { order: number[], deadlineAt: number, signal: AbortSignal, caller: AbortSignal | undefined, requestId: string }
  ): Promise<T> {
    const outcomes: AttemptOutcome[] = []
    /** Set when the last failure was about this request, not the domain: it decides the error. */
    let requestFailure: AttemptOutcome | undefined
    let rateLimitRetried = false
    let attempts = 0
    while (attempts < this.#tuning.maxAttempts) {
      const index = call.order[attempts % call.order.length] ?? 0
      if (attempts > 0 && attempts % call.order.length === 0) {
        // A failure about this request is not worth a second round: every domain has had its chance.
        if (requestFailure !== undefined || !await this.#pause(call)) break
      }
      if (attempts > 0 && call.deadlineAt - this.#now() < this.#tuning.minAttemptMs) break

      let lease
      try {
        lease = await this.#quota.acquire(endpoint, call.deadlineAt, call.signal)
      } catch (err) {
        if (call.caller?.aborted === true) throw call.caller.reason
        // Out of time while waiting for quota after domain failures (and no 429): those failures are the story.
        if (err instanceof NexconnError && err.reason === 'rate_limited' && outcomes.length > 0 && !rateLimitRetried) break
        if (err instanceof NexconnError) throw err
        break // the deadline fired while waiting
      }

      const started = this.#now()
      const target = this.#target(index)
      const timeoutMs = Math.max(1, Math.min(this.#config.timeoutMs, call.deadlineAt - started))
      const result = await attempt({
        pool: target.pool,
        path: target.basePath + endpoint,
        headers: this.#headers(call.requestId),
        body,
        signal: call.signal,
        timeoutMs,
        maxBodyBytes: this.#tuning.maxBodyBytes
      })
      lease.release(result.kind === 'response' || result.sent)
      if (call.caller?.aborted === true) throw call.caller.reason
      const durationMs = this.#now() - started
      const domain = this.#domains.label(index)

      const decision = this.#decide(endpoint, result, accept)
      this.#hook(() => this.#hooks.onAttempt?.({ endpoint, domain, durationMs, ...decision.metric, codeLabel: this.#codeLabel(decision.metric.businessCode) }))
      if (decision.kind === 'ok') {
        this.#domains.succeeded(index)
        // A slot is reused a window after its release, so a release late by the work of the answers
        // that came in at the same moment (a burst's answers arrive together) delays the next
        // burst by as much. Let those answers release their slots before this one's work goes on.
        await yieldToIo()
        return decision.value
      }
      if (decision.kind === 'rejected') {
        this.#domains.succeeded(index)
        throw decision.error
      }
      if (decision.kind === 'rate_limited') {
        // Nexconn is up but says slow down: not the domain's fault, and worth one more try after the back-off.
        this.#domains.succeeded(index)
        await this.#quota.backoff(endpoint, decision.backoffMs)
        if (rateLimitRetried) {
          throw new NexconnError('rate_limited', `Nexconn rate-limited ${endpoint} again after backing off.`, {
            ...decision.codes, retryAfterS: Math.max(1, Math.ceil(decision.backoffMs / 1000))
          })
        }
        rateLimitRetried = true
        continue
      }
      outcomes.push(decision.metric.outcome)
      this.#logger.debug({ requestId: call.requestId, endpoint, domain, outcome: decision.metric.outcome, code: decision.detail, scope: decision.kind, ...decision.codes }, 'nexconn attempt failed')
      if (decision.kind === 'request_failure') {
        // The domain answered: it is healthy, whatever it thought of this request.
        this.#domains.succeeded(index)
        requestFailure = decision.metric.outcome
      } else {
        requestFailure = undefined
        // A timeout only says something about the domain if it had the full per-attempt time: the
        // tail end of a call's deadline is no verdict on a healthy primary.
        if (decision.metric.outcome !== 'timeout' || timeoutMs >= this.#config.timeoutMs) this.#domains.failed(index, decision.metric.outcome)
      }
      attempts++
    }
    if (call.caller?.aborted === true) throw call.caller.reason
    if (requestFailure === 'business_error') {
      throw new NexconnError('server_error', `Nexconn failed ${endpoint} for this request on every domain tried.`, { retryAfterS: SERVER_ERROR_RETRY_AFTER_S })
    }
    if (outcomes.length > 0 && outcomes.every((outcome) => outcome === 'invalid_response')) {
      throw new NexconnError('invalid_response', `Nexconn answered ${endpoint} with responses the broker cannot use.`, { retryAfterS: 1 })
    }
    throw new NexconnError('unavailable', `Nexconn could not be reached for ${endpoint} within the deadline (${outcomes.length} attempt(s)).`, { retryAfterS: 1 })
  }

  #decide<T> (endpoint: string, result: AttemptResult, accept: (body: Record<string, unknown>) => T | undefined):
  | { kind: 'ok', value: T, metric: { outcome: 'ok', businessCode: number, httpStatus: number } }
  | { kind: 'rejected', error: NexconnError, metric: { outcome: 'business_error', businessCode?: number, httpStatus: number } }
  | { kind: 'rate_limited', backoffMs: number, codes: { businessCode?: number, httpStatus: number }, metric: { outcome: 'business_error' | 'http_error', businessCode?: number, httpStatus: number } }
  | { kind: 'domain_failure' | 'request_failure', detail: string, codes: { businessCode?: number, httpStatus?: number }, metric: { outcome: AttemptOutcome, businessCode?: number, httpStatus?: number } } {
    if (result.kind === 'failure') {
      return { kind: 'domain_failure', detail: result.code, codes: {}, metric: { outcome: result.outcome } }
    }
    const c = classify(result.status, result.body, result.retryAfter, this.#now(), { userDisabledCodes: this.#userDisabledCodes })
    const codes = { ...(c.businessCode === undefined ? {} : { businessCode: c.businessCode }), httpStatus: c.httpStatus }
    switch (c.kind) {
      case 'ok': {
        const value = accept(c.body)
        // A well-formed success we cannot use (no token, another user's): about this call, not the domain.
        if (value === undefined) return { kind: 'request_failure', detail: 'UNUSABLE_ANSWER', codes, metric: { outcome: 'invalid_response', ...codes } }
        return { kind: 'ok', value, metric: { outcome: 'ok', businessCode: c.businessCode, httpStatus: c.httpStatus } }
      }
      case 'rejected':
        this.#logUnknownCode(endpoint, c.businessCode, c.httpStatus, c.message)
        return { kind: 'rejected', error: rejection(c.reason, codes), metric: { outcome: 'business_error', ...codes } }
      case 'rate_limited':
        return {
          kind: 'rate_limited',
          backoffMs: c.retryAfterMs ?? this.#tuning.rateLimitBackoffMs,
          codes,
          metric: { outcome: c.businessCode === undefined ? 'http_error' : 'business_error', ...codes }
        }
      case 'request_failure':
        this.#logUnknownCode(endpoint, c.businessCode, c.httpStatus, c.message)
        return { kind: 'request_failure', detail: c.outcome, codes, metric: { outcome: c.outcome, ...codes } }
      case 'domain_failure':
        return { kind: 'domain_failure', detail: c.outcome, codes, metric: { outcome: c.outcome, ...codes } }
    }
  }

  /** Metrics label of a business code: the codes the broker knows (or was told of), else `other`. */
  #codeLabel (code: number | undefined): string {
    if (code === undefined) return 'none'
    return KNOWN_CODES.has(code) || this.#userDisabledCodes.has(code) ? String(code) : 'other'
  }

  /** One warning per business code the broker does not know, with what Nexconn said of it. */
  #logUnknownCode (endpoint: string, code: number | undefined, httpStatus: number, message: string | undefined): void {
    if (code === undefined || KNOWN_CODES.has(code) || this.#userDisabledCodes.has(code)) return
    if (this.#loggedUnknownCodes.has(code) || this.#loggedUnknownCodes.size >= MAX_LOGGED_UNKNOWN_CODES) return
    this.#loggedUnknownCodes.add(code)
    this.#logger.warn({ endpoint, businessCode: code, httpStatus, nexconnMessage: message },
      'nexconn answered with a business code the broker does not know; if it means the user is soft-deleted or blocked, add it to NEXCONN_USER_DISABLED_CODES')
  }

  /** Waits before another round over the domains; false if the call ran out of time meanwhile. */
  async #pause (call: { deadlineAt: number, signal: AbortSignal }): Promise<boolean> {
    const ms = Math.min(this.#tuning.roundPauseMs * (0.5 + Math.random()), call.deadlineAt - this.#now() - this.#tuning.minAttemptMs)
    if (ms < 0) return false
    try {
      await sleep(ms, undefined, { signal: call.signal })
      return true
    } catch {
      return false
    }
  }

  #headers (requestId: string): Record<string, string> {
    return {
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': this.#tuning.userAgent,
      'x-request-id': requestId,
      ...signedHeaders(this.#config.appKey, this.#config.appSecret, this.#now())
    }
  }

  #target (index: number): Target {
    const target = this.#targets[index]
    if (target === undefined) throw new Error(`BUG: no Nexconn target ${index}`)
    return target
  }

  #callSucceeded (): void {
    this.#lastCallFailed = false
    if (this.#operatorProblem !== undefined) {
      this.#logger.info({ previous: this.#operatorProblem }, 'nexconn accepts the broker\'s requests again')
      this.#operatorProblem = undefined
    }
  }

  #callFailed (err: NexconnError): void {
    if (OVERALL_FAILURES.has(err.reason)) this.#lastCallFailed = true
    if (OPERATOR_PROBLEMS.has(err.reason) && this.#operatorProblem !== err.reason) {
      this.#operatorProblem = err.reason
      this.#logger.error({ reason: err.reason, businessCode: err.businessCode, httpStatus: err.httpStatus },
        err.reason === 'credentials'
          ? 'nexconn refuses the broker\'s credentials: check NEXCONN_APP_KEY, NEXCONN_APP_SECRET and the app\'s IP allow-list'
          : 'nexconn says the service is not enabled for this app: enable it in the Nexconn console')
    }
  }

  #hook (fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.#logger.debug({ err }, 'nexconn metrics hook threw')
    }
  }
}

const REJECTION_MESSAGES: Record<NexconnFailure, string> = {
  unavailable: 'Nexconn could not be reached.',
  rate_limited: 'Nexconn rate-limited the call.',
  credentials: 'Nexconn refused the App Key, App Secret or source IP.',
  bad_parameter: 'Nexconn refused a parameter of the call.',
  user_limit: 'The Nexconn app has reached its registered-user limit.',
  not_enabled: 'The Nexconn service is not enabled for this app.',
  invalid_response: 'Nexconn answered with a response the broker cannot use.',
  user_disabled: 'Nexconn does not issue tokens for this user (soft-deleted or blocked).',
  refused: 'Nexconn refused the call with a code the broker does not know.',
  server_error: 'Nexconn failed the call.'
}

function rejection (reason: NexconnFailure, codes: { businessCode?: number, httpStatus: number }): NexconnError {
  return new NexconnError(reason, REJECTION_MESSAGES[reason], codes)
}
