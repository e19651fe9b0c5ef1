import t from 'tap'
import { ERRORS, GatewayError, codeForUpstreamStatus, errorBody, errorHeaders, isGatewayError } from '../lib/errors.js'

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

t.test('brand check and upstream status mapping', async (t) => {
  t.ok(isGatewayError(new GatewayError('GW_INTERNAL')))
  t.notOk(isGatewayError(new Error('x')))
  t.notOk(isGatewayError({ code: 'GW_INTERNAL' }))
  t.equal(codeForUpstreamStatus(529), 'GW_UPSTREAM_OVERLOADED')
  t.equal(codeForUpstreamStatus(418), 'GW_INTERNAL')
  t.equal(new GatewayError('GW_INTERNAL', 'x', { cause: new Error('y') }).cause instanceof Error, true)
})
