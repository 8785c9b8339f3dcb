import { describe, expect, it } from 'vitest'
import { ref } from 'vue'
import { user } from '@/testing/factories'
import { completeMention, mentionAt, useMentionAutocomplete } from './useMentionAutocomplete'

describe('mention completion', () => {
  it('finds the @word at the caret', () => {
    expect(mentionAt('hi @al', 6)).toEqual({ start: 3, text: 'al' })
    expect(mentionAt('@', 1)).toEqual({ start: 0, text: '' })
    expect(mentionAt('mail a@b', 8)).toBeNull()
    expect(mentionAt('hi @al there', 12)).toBeNull()
  })

  it('replaces the word and puts the caret after it', () => {
    const q = mentionAt('hi @al and', 6)!
    expect(completeMention('hi @al and', q, 6, 'alice')).toEqual({ value: 'hi @alice  and', caret: 10 })
  })

  it('suggests people and @room', () => {
    const people = ref([user(1, { username: 'alice', display_name: 'Alice' }), user(2, { username: 'bob', display_name: 'Bob' })])
    const auto = useMentionAutocomplete(people, ref(true))
    auto.update('@', 1)
    expect(auto.suggestions.value.map((s) => s.username)).toEqual(['alice', 'bob', 'room'])
    auto.update('@ro', 3)
    expect(auto.suggestions.value.map((s) => s.username)).toEqual(['room'])
    auto.update('@b', 2)
    expect(auto.suggestions.value.map((s) => s.username)).toEqual(['bob'])
  })

  it('never offers a system account (Echo) as a person to mention', () => {
    const people = ref([user(1, { username: 'alice' }), user(2, { username: 'echo', system: true })])
    const auto = useMentionAutocomplete(people, ref(false))
    auto.update('@', 1)
    expect(auto.suggestions.value.map((s) => s.username)).toEqual(['alice'])
  })
})
