import t from 'tap'
import { ERRORS, GatewayError, errorBody, errorEvent, errorHeaders, isGatewayError, upstreamFailure } from '../lib/errors.js'

t.test('every code renders in its envelope', async (t) => {
  for (const code of Object.keys(ERRORS) as Array<keyof typeof ERRORS>) {
    const e = new GatewayError(code)
    const body = JSON.parse(errorBody(e, 'rid')) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    if (ERRORS[code].envelope === 'oauth') {
      t.same(body, { error: ERRORS[code].type }, code)
      t.equal(errorHeaders(e)['cache-control'], 'no-store')
    } else {
      t.same(body, { type: 'error', error: { type: ERRORS[code].type, message: ERRORS[code].message }, request_id: 'rid' }, code)
    }
    t.equal(e.status, ERRORS[code].status)
  }
})

t.test('401s and 501 say x-should-retry: false; extra headers merge', async (t) => {
  t.equal(errorHeaders(new GatewayError('GW_AUTH_EXPIRED'))['x-should-retry'], 'false')
  t.equal(errorHeaders(new GatewayError('GW_NOT_SUPPORTED'))['x-should-retry'], 'false')
  t.equal(errorHeaders(new GatewayError('GW_NOT_FOUND'))['x-should-retry'], undefined)
  t.equal(errorHeaders(new GatewayError('GW_RATE_LIMITED', 'slow', { headers: { 'retry-after': '3' } }))['retry-after'], '3')
  t.same(JSON.parse(errorBody(new GatewayError('OAUTH_INVALID_REQUEST', 'device_code is missing'))), { error: 'invalid_request', error_description: 'device_code is missing' })
  t.same(JSON.parse(errorBody(new GatewayError('GW_INVALID_JSON'))), { type: 'error', error: { type: 'invalid_request_error', message: 'invalid JSON' } })
})

t.test('brand check', async (t) => {
  t.ok(isGatewayError(new GatewayError('GW_INTERNAL')))
  t.notOk(isGatewayError(new Error('x')))
  t.notOk(isGatewayError({ code: 'GW_INTERNAL' }))
  t.equal(new GatewayError('GW_INTERNAL', 'x', { cause: new Error('y') }).cause instanceof Error, true)
})

t.test('upstreamFailure: undici timeouts, every other failure, and the SSE error event', async (t) => {
  const e = (code: string): Error => Object.assign(new Error(code), { code })
  t.equal(upstreamFailure(e('UND_ERR_HEADERS_TIMEOUT')).code, 'GW_UPSTREAM_TIMEOUT')
  t.equal(upstreamFailure(e('UND_ERR_BODY_TIMEOUT')).status, 504)
  for (const c of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND']) t.equal(upstreamFailure(e(c)).code, 'GW_UPSTREAM_UNAVAILABLE', c)
  t.equal(upstreamFailure('boom').status, 502)
  t.equal(upstreamFailure(null, 'gone').message, 'gone')
  const own = new GatewayError('GW_NOT_SUPPORTED')
  t.equal(upstreamFailure(own), own, 'a registry error is kept')
  t.equal(errorEvent(new GatewayError('GW_SPEND_BLOCKED', 'cut'), 'req_1'),
    'event: error\ndata: {"type":"error","error":{"type":"billing_error","message":"cut"},"request_id":"req_1"}\n\n')
  t.equal(errorEvent(new GatewayError('GW_UPSTREAM_TIMEOUT')), 'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream did not answer in time"}}\n\n')
})
