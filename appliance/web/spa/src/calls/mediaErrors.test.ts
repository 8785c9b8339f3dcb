import { describe, expect, it } from 'vitest'
import { mediaErrorText } from './mediaErrors'

describe('mediaErrorText', () => {
  it('never shows the browser’s own message', () => {
    const raw = new DOMException('Could not start video source', 'NotReadableError')
    const text = mediaErrorText(raw, 'screen')
    expect(text).toBe('Your screen could not be shared: another program may be using it, or the system refused.')
    expect(text).not.toContain('video source')
  })

  it('says only what failed when the reason is unknown', () => {
    expect(mediaErrorText(new Error('something internal'), 'camera')).toBe('The camera could not start.')
    expect(mediaErrorText('weird', 'device')).toBe('That device could not start.')
  })

  it('names a missing source', () => {
    expect(mediaErrorText(new DOMException('The object can not be found here.', 'NotFoundError'), 'screen')).toBe(
      'Your screen could not be shared: nothing to capture was found.',
    )
  })
})
