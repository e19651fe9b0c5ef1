/**
 * Keys the reference 2.1.332 accepts: `oidc.groups_jsonpath` (with its own errors, at line:column).
 */
import t from 'tap'
import { EXPOSURE_NOTICE, configWarnings, exposureNotice } from '../../lib/config/warnings.js'
import { errorsOf, insertAfter, parse } from '../helpers/config.js'

/** A minimal config; `oidcExtra` lines go at the end of the oidc block (line 8 onwards). */
const yaml = (oidcExtra: string): string => insertAfter(7, oidcExtra)

t.test('oidc.groups_jsonpath: accepted, and read in place of groups_claim', async (t) => {
  const c = parse(yaml("  groups_jsonpath: $.groups[?@.type=='security'].displayName"))
  t.equal(c.config.oidc?.groups_jsonpath, "$.groups[?@.type=='security'].displayName")
  t.equal(c.config.oidc?.groups_claim, 'groups')
  const same = parse(yaml("  groups_claim: groups\n  groups_jsonpath: \"$['roles'][*].name\""))
  t.equal(same.config.oidc?.groups_jsonpath, "$['roles'][*].name", 'groups_claim may restate its default')
})

t.test('oidc.groups_jsonpath: a bad path has its own error at line:column', async (t) => {
  const lines = errorsOf(t, () => parse(yaml('  groups_jsonpath: $..groups')))
  t.equal(lines.length, 1)
  t.match(lines[0], /^gateway\.yaml:8:20 oidc\.groups_jsonpath: is not a JSONPath Weir reads \(expects a name .* at character 3\): after \$ it takes only \.name/)
  t.match(lines[0], /use oidc\.groups_claim$/)
  const filter = errorsOf(t, () => parse(yaml("  groups_jsonpath: \"$.groups[?@.type!='x'].name\"")))
  t.match(filter[0], /^gateway\.yaml:8:20 oidc\.groups_jsonpath: .*filter of the form/)
  const root = errorsOf(t, () => parse(yaml('  groups_jsonpath: $[*]')))
  t.match(root[0], /must start with \.name or \['name'\] after \$/)
  const long = errorsOf(t, () => parse(yaml(`  groups_jsonpath: $${'.a'.repeat(300)}`)))
  t.match(long[0], /oidc\.groups_jsonpath: .*longer than 512 characters/)
})

t.test('oidc.groups_jsonpath with another groups_claim fails boot', async (t) => {
  const lines = errorsOf(t, () => parse(yaml('  groups_claim: roles\n  groups_jsonpath: $.groups[*].name')))
  t.same(lines, ['gateway.yaml:9:20 oidc.groups_jsonpath: is read in place of oidc.groups_claim, so the two cannot both be set: remove one'])
})

t.test('a policy with the 2.1.332 settings keys boots; odd keys and env names warn at line:column', async (t) => {
  const text = yaml('') + `managed:
  policies:
    - match: {}
      desktop: {}
      cli:
        additionalDirectoryConfigRoots:
          /srv/shared: /srv/shared-config
        desktopMcpServersListScope: code
        disableDirectMcpSkills: true
        downloadsMirrorUrl: https://downloads.mirror.example
        modelCatalogPublicKey: "-----BEGIN PUBLIC KEY-----"
        modelCatalogUrl: https://catalog.example/catalog.json
        bashEditDiffEnabled: false
        env:
          http_proxy: http://proxy.internal:3128
          no_proxy: localhost
        availbleModels: [opus]
`
  const c = parse(text)
  const cli = c.config.managed?.policies?.[0]?.cli as Record<string, unknown>
  t.equal(cli.disableDirectMcpSkills, true)
  const warnings = c.warnings.filter(w => w.includes('managed.policies.0.cli'))
  t.match(warnings, [
    /^gateway\.yaml:33:25 managed\.policies\.0\.cli\.availbleModels: is not a Claude Code setting Weir knows/,
    /^gateway\.yaml:31:23 managed\.policies\.0\.cli\.env\.http_proxy: is not an upper-case environment variable name/,
    /^gateway\.yaml:32:21 managed\.policies\.0\.cli\.env\.no_proxy: is not an upper-case environment variable name/,
  ])
  t.equal(warnings.length, 3)
  const bad = errorsOf(t, () => parse(text.replace('disableDirectMcpSkills: true', 'disableDirectMcpSkills: "yes"')))
  t.match(bad, [/^gateway\.yaml:25:33 managed\.policies\.0\.cli\.disableDirectMcpSkills: must be a boolean/])
})

t.test('every start prints the never-expose notice: boxed in text logs, one line with JSON logs', async (t) => {
  const text = exposureNotice({})
  t.ok('box' in text)
  if ('box' in text) {
    const rows = text.box.trim().split('\n')
    t.equal(rows.length, EXPOSURE_NOTICE.length + 2, 'a top, one row per sentence, a bottom')
    t.ok(rows.every(r => [...r].length === [...(rows[0] as string)].length), 'every row of the box is as wide')
    t.match(text.box, /never expose it to the public internet/)
  }
  t.same(exposureNotice({ CLAUDE_GATEWAY_LOG_FORMAT: 'json' }), { line: EXPOSURE_NOTICE.join(' ') })
  t.notMatch(EXPOSURE_NOTICE.join(' '), /\n/)
})

t.test('CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME: warned about without the proxy, explained with it', async (t) => {
  const c = parse(yaml('  use_proxy: true')).config
  const msgs = (env: NodeJS.ProcessEnv): string[] => configWarnings(c, env).filter(w => w.message.includes('CONNECT_BY_HOSTNAME')).map(w => w.message)
  t.same(msgs({}), [])
  t.match(msgs({ CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME: '1' }), [/set but has no effect.*needs oidc\.use_proxy: true and HTTPS_PROXY/], 'no proxy in the environment')
  t.match(msgs({ CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME: '1', HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'localhost' }), [/is on: IdP hostnames outside NO_PROXY go to the proxy unresolved/])
  t.same(msgs({ CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME: '0', HTTPS_PROXY: 'http://proxy:3128' }), [], '0 is off')
  const direct = parse(yaml('')).config
  t.match(configWarnings(direct, { CLAUDE_GATEWAY_IDP_CONNECT_BY_HOSTNAME: '1', HTTPS_PROXY: 'http://proxy:3128' }).map(w => w.message),
    [/a proxy is set in the environment/, /set but has no effect/], 'without use_proxy: true')
})
