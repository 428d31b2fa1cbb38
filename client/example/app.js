/* global document */
// The example page: a demo sign-in, then chat-token-broker-client's provider. The page renders
// whatever the provider reports through subscribe(): fetching, retrying (with the broker's typed
// error), ready, error, signed out.
import { createTokenProvider } from './lib/index.js'

const $ = (id) => document.getElementById(id)
const config = await (await fetch('./config.json')).json()
$('broker-url').textContent = config.brokerUrl
if (!config.demoSignIn) {
  $('sign-in-form').hidden = true
  $('demo-hint').textContent = 'No demo sign-in on this server: paste a JWT the broker accepts.'
  $('paste').open = true
}

// The app's own sign-in state. Like the chat token, the app's JWT is kept in memory only.
let session = null // { user } after the demo sign-in, { jwt } after a paste
let appJwt = null

async function getAppJwt ({ forceRefresh }) {
  if (session === null) return null
  if (session.jwt !== undefined) return session.jwt // a pasted JWT cannot be refreshed
  if (appJwt === null || forceRefresh) {
    // Your sign-in backend issues the app's JWT; here the example's server plays that part.
    const response = await fetch('./demo/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: session.user })
    })
    if (!response.ok) throw new Error(`demo sign-in failed: HTTP ${response.status}`)
    appJwt = (await response.json()).jwt
  }
  return appJwt
}

const provider = createTokenProvider({
  brokerUrl: config.brokerUrl,
  getAppJwt,
  onSignInRequired: () => { session = null; appJwt = null },
  // More patient than the default (4): the page keeps retrying while a broker fault is cleared.
  retry: { maxAttempts: 6 }
})

function seconds (ms) {
  return `${(ms / 1000).toFixed(1)} s`
}

function describe (error) {
  const parts = [error.status === undefined ? 'no HTTP answer' : `HTTP ${error.status}`, error.message]
  if (error.retryAfterMs !== undefined) {
    // From the broker's Retry-After header when it answered; from the provider's own interval otherwise.
    const after = Math.round(error.retryAfterMs / 1000)
    parts.push(error.status === undefined ? `ask again in ${after} s` : `Retry-After ${after} s`)
  }
  if (error.requestId !== undefined) parts.push(`request ${error.requestId}`)
  return parts.join(' · ')
}

function showError (error, suffix = '') {
  const box = $('error')
  box.replaceChildren()
  const code = document.createElement('strong')
  code.textContent = error.code ?? 'error'
  box.append(code, ` — ${describe(error)}${suffix}`)
  box.dataset.code = error.code ?? ''
  box.hidden = false
}

function hideError () {
  $('error').hidden = true
  delete $('error').dataset.code
}

function log (text) {
  const item = document.createElement('li')
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`
  $('log').prepend(item)
  while ($('log').children.length > 30) $('log').lastChild.remove()
}

const STATUS_TEXT = {
  idle: 'signed out',
  fetching: 'asking the broker…',
  retrying: 'waiting to retry',
  ready: 'ready',
  error: 'failed',
  signed_out: 'sign-in required'
}

let lastStatus

function render (state) {
  const previous = lastStatus
  lastStatus = state.status
  $('status').dataset.status = state.status
  $('status').textContent = STATUS_TEXT[state.status]
  $('token-details').hidden = state.status !== 'ready'
  switch (state.status) {
    case 'ready': {
      const { token } = state
      hideError()
      $('user-id').textContent = token.userId
      $('app-key').textContent = token.appKey
      $('token').textContent = token.token
      $('issued-at').textContent = token.issuedAt
      $('expires-at').textContent = token.expiresAt ?? 'never (null)'
      log(`token ready for ${token.userId}`)
      break
    }
    case 'fetching':
      log(`POST /v1/token (attempt ${state.attempt})`)
      break
    case 'retrying':
      showError(state.error, ` — retrying in ${seconds(state.delayMs)}`)
      log(`${state.error.code}: retrying in ${seconds(state.delayMs)}`)
      break
    case 'error':
      showError(state.error, ' — gave up; press getToken() to try again')
      log(`${state.error.code}: gave up`)
      break
    case 'signed_out':
      showError(state.error, ' — sign in again')
      log(`${state.error.code}: sign-in required`)
      break
    case 'idle':
      hideError()
      if (previous !== undefined && previous !== 'idle') log('signed out')
      break
  }
}

provider.subscribe(render)

// Errors already show through render(); only those that change no state need showing here.
function onRejected (error) {
  if (error.code === 'refresh_throttled') {
    showError(error)
    log('31004 again too soon: not asking the broker')
  }
}

function signIn (next) {
  provider.clear()
  session = next
  appJwt = null
  provider.getToken().catch(onRejected)
}

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault()
  signIn({ user: $('user').value.trim() })
})
$('paste-form').addEventListener('submit', (event) => {
  event.preventDefault()
  signIn({ jwt: $('jwt').value.trim() })
})
$('get-token').addEventListener('click', () => { provider.getToken().catch(onRejected) })
$('invalid-token').addEventListener('click', () => { provider.onInvalidToken().catch(onRejected) })
$('sign-out').addEventListener('click', () => {
  session = null
  appJwt = null
  provider.clear()
})
