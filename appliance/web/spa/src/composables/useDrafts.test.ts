import { beforeEach, describe, expect, it } from 'vitest'
import { clearDrafts, loadDraft, saveDraft } from './useDrafts'

describe('drafts', () => {
  beforeEach(() => localStorage.clear())

  it('keeps one draft per room and per thread', () => {
    saveDraft(1, null, 'room one')
    saveDraft(1, 9, 'thread nine')
    saveDraft(2, null, 'room two')
    expect(loadDraft(1)).toBe('room one')
    expect(loadDraft(1, 9)).toBe('thread nine')
    expect(loadDraft(2)).toBe('room two')
    expect(loadDraft(3)).toBe('')
  })

  it('forgets blank drafts, and all of them on sign-out', () => {
    saveDraft(1, null, 'x')
    saveDraft(1, null, '   ')
    expect(loadDraft(1)).toBe('')
    saveDraft(2, null, 'y')
    localStorage.setItem('other', 'kept')
    clearDrafts()
    expect(loadDraft(2)).toBe('')
    expect(localStorage.getItem('other')).toBe('kept')
  })
})
