import { beforeAll, describe, expect, it } from 'vitest'
import { installTooltips } from './tooltips'

function button(html: string): HTMLButtonElement {
  const holder = document.createElement('div')
  holder.innerHTML = html
  const el = holder.firstElementChild as HTMLButtonElement
  document.body.append(el)
  return el
}

// Keyboard focus (:focus-visible) is a browser's matter: the browser suite checks it
// (tests/e2e/test_phone.py); here a mouse hover stands for both.
const hover = (el: HTMLElement): boolean =>
  el.dispatchEvent(new PointerEvent('pointerover', { bubbles: true, pointerType: 'mouse' }))

const tip = (): HTMLElement => document.getElementById('app-tooltip') as HTMLElement

describe('tooltips', () => {
  beforeAll(() => installTooltips(document))

  it('shows an icon button its accessible name on hover, and Escape hides it', () => {
    const close = button('<button aria-label="Close" title="Close"><svg></svg></button>')
    hover(close)
    expect(tip().hidden).toBe(false)
    expect(tip().textContent).toBe('Close')
    expect(tip().getAttribute('role')).toBe('tooltip')
    expect(close.hasAttribute('title')).toBe(false) // one tip, not the browser's as well
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }))
    expect(tip().hidden).toBe(true)
  })

  it('leaves a button that shows its own text alone', () => {
    const members = button('<button aria-label="3 members"><svg></svg> 3</button>')
    hover(members)
    expect(tip().hidden).toBe(true)
  })

  it('names a data-tooltip button by its tip', () => {
    const more = button('<button data-tooltip="More actions"><svg></svg></button>')
    hover(more)
    expect(tip().textContent).toBe('More actions')
    expect(more.getAttribute('aria-label')).toBe('More actions')
  })

  it('is installed once', () => {
    installTooltips(document)
    expect(document.querySelectorAll('#app-tooltip')).toHaveLength(1)
  })
})
