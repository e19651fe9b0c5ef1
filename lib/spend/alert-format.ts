/**
 * Request bodies of spend alert webhooks, one per `admin.alerts.webhooks[].format`:
 *   - json:  the alert itself (AlertPayload), for receivers written against Weir;
 *   - slack: `{ "text": … }`, what a Slack incoming webhook accepts;
 *   - teams: a Teams `message` carrying one Adaptive Card (what Teams Workflows webhooks accept).
 * Amounts shown to people are dollars with two decimals, computed from integer cents; the exact
 * figures stay in the json body.
 */
import type { AlertPayload } from './alerts.js'

export type WebhookFormat = 'json' | 'slack' | 'teams'

/** Integer cents as dollars ("$1,234.50"), without going through floating point. */
export function dollars (cents: bigint): string {
  const neg = cents < 0n
  const a = neg ? -cents : cents
  const whole = (a / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  const frac = (a % 100n).toString().padStart(2, '0')
  return `${neg ? '-' : ''}$${whole}.${frac}`
}

/** Micro-cents rounded down to whole cents. */
const microToCents = (micro: number): bigint => BigInt(Math.trunc(micro)) / 1_000_000n

const pct = (t: number): string => `${Math.round(t * 10_000) / 100}%`

/** One line a person reads. */
export function headline (p: AlertPayload): string {
  const who = p.kind === 'pool' ? `Pooled budget of group ${p.subject}` : `${p.email ?? p.subject}`
  const scope = p.kind === 'pool' ? '' : ` (${p.cap_scope === 'rbac_group' ? 'group' : p.cap_scope} cap)`
  return `${who} reached ${pct(p.threshold)} of the ${p.period} spend cap${scope}: ` +
    `${dollars(microToCents(p.spent_micro_cents))} of ${dollars(BigInt(p.cap_cents))} in ${p.bucket}.`
}

function facts (p: AlertPayload): Array<{ title: string, value: string }> {
  return [
    { title: p.kind === 'pool' ? 'Group' : 'Principal', value: p.email !== undefined ? `${p.email} (${p.subject})` : p.subject },
    { title: 'Threshold', value: pct(p.threshold) },
    { title: 'Spent', value: dollars(microToCents(p.spent_micro_cents)) },
    { title: 'Cap', value: `${dollars(BigInt(p.cap_cents))} ${p.period} (${p.cap_scope}, ${p.cap_id})` },
    { title: 'Period', value: p.bucket },
  ]
}

/** The request body for `format`, as JSON text. */
export function webhookBody (format: WebhookFormat, p: AlertPayload): string {
  if (format === 'slack') return JSON.stringify({ text: `:warning: ${headline(p)}` })
  if (format === 'teams') {
    return JSON.stringify({
      type: 'message',
      attachments: [{
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', text: 'Weir spend alert', weight: 'Bolder', size: 'Medium' },
            { type: 'TextBlock', text: headline(p), wrap: true },
            { type: 'FactSet', facts: facts(p) },
          ],
        },
      }],
    })
  }
  return JSON.stringify(p)
}
