import { describe, expect, it } from 'vitest'
import { nameFor } from './useComposerFiles'

describe('names of pasted files', () => {
  const at = new Date('2026-11-29T03:04:05Z')

  it('keeps a real file name', () => {
    expect(nameFor(new File(['x'], 'report.pdf', { type: 'application/pdf' }), 'Pasted image', at)).toBe('report.pdf')
  })

  it('dates what every browser calls image.png, and nameless blobs', () => {
    expect(nameFor(new File(['x'], 'image.png', { type: 'image/png' }), 'Pasted image', at)).toBe(
      'Pasted image 2026-11-29 03.04.05.png',
    )
    expect(nameFor(new Blob(['x'], { type: 'image/jpeg' }), 'Pasted image', at)).toBe('Pasted image 2026-11-29 03.04.05.jpg')
    expect(nameFor(new Blob(['x'], { type: 'image/svg+xml' }), 'File', at)).toBe('File 2026-11-29 03.04.05.svg')
  })
})
