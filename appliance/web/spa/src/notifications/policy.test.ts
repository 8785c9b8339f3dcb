import { describe, expect, it } from 'vitest'
import type { NotifySettings } from '@/api/notifications'
import { defaultNotifySettings, shouldNotify, type MessageFacts } from './policy'
import table from './policyCases.json'

// The same table tests/unit/test_notify_policy.py runs against the server's rule.
interface Case {
  name: string
  settings: Partial<NotifySettings>
  message: MessageFacts
  now: string
  timezone: string | null
  expect: boolean
}

describe('shouldNotify, case for case with appliance/notify/policy.py', () => {
  const cases = table.cases as Case[]
  it('has the shared table', () => expect(cases.length).toBeGreaterThan(25))
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const settings = { ...defaultNotifySettings(), ...c.settings }
    const at = { readerId: 1, nowMs: Date.parse(c.now), timezone: c.timezone }
    expect(shouldNotify(settings, c.message, at)).toBe(c.expect)
  })
})
