import { describe, expect, it } from 'vitest'
import { plural } from './plural'

describe('plural', () => {
  it('says one thing in the singular and any other count in the plural', () => {
    expect(plural(1, 'member')).toBe('1 member')
    expect(plural(0, 'member')).toBe('0 members')
    expect(plural(2, 'person', 'people')).toBe('2 people')
  })
})
