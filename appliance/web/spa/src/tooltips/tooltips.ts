// One tooltip for the whole app: every icon-only button (an aria-label and no text of its
// own, or anything with data-tooltip) shows its name on hover and on keyboard focus. Delegated from
// the document, so no component has to opt in, and the text shown is the accessible name
// itself: they can never disagree. `title` would show on hover only, late, and never on focus.
import './tooltip.css'

const TARGETS = 'button[aria-label], [data-tooltip]'
const GAP = 6

/** A button that says something itself (a count, an emoji) is named by it: no tip. */
function iconOnly(el: HTMLElement): boolean {
  return el.dataset.tooltip !== undefined || (el.textContent ?? '').trim() === ''
}

function textOf(el: HTMLElement): string {
  return (el.dataset.tooltip ?? el.getAttribute('aria-label') ?? '').trim()
}

/** Where the tip goes: under its button, or above when there is no room; inside the window. */
function place(tip: HTMLElement, target: HTMLElement): void {
  const box = target.getBoundingClientRect()
  const own = tip.getBoundingClientRect()
  const maxLeft = window.innerWidth - own.width - 4
  const left = Math.max(4, Math.min(maxLeft, box.left + box.width / 2 - own.width / 2))
  const below = box.bottom + GAP
  const top = below + own.height > window.innerHeight - 4 ? box.top - GAP - own.height : below
  tip.style.left = `${Math.round(left)}px`
  tip.style.top = `${Math.round(Math.max(4, top))}px`
}

/** Focus from the keyboard (a click's focus shows no tip: the pointer's hover did). */
function keyboardFocus(el: HTMLElement): boolean {
  try {
    return el.matches(':focus-visible')
  } catch {
    return true // an engine without :focus-visible
  }
}

export function installTooltips(doc: Document): void {
  if (doc.getElementById('app-tooltip')) return
  const tip = doc.createElement('div')
  tip.id = 'app-tooltip'
  tip.className = 'app-tooltip'
  tip.setAttribute('role', 'tooltip')
  tip.hidden = true
  doc.body.append(tip)
  let shownFor: HTMLElement | null = null

  function show(target: HTMLElement): void {
    const text = textOf(target)
    if (!text) return
    if (target.dataset.tooltip && !target.hasAttribute('aria-label')) target.setAttribute('aria-label', text)
    if (target.title === text) target.removeAttribute('title') // else the browser's shows too
    shownFor = target
    // A modal <dialog> sits in the top layer, above anything in <body>: the tip goes inside.
    const host = target.closest('dialog[open]') ?? doc.body
    if (tip.parentElement !== host) host.append(tip)
    tip.textContent = text
    tip.hidden = false
    place(tip, target)
  }
  function hide(): void {
    shownFor = null
    tip.hidden = true
  }
  function targetOf(event: Event): HTMLElement | null {
    const el = event.target instanceof Element ? event.target.closest(TARGETS) : null
    return el instanceof HTMLElement && iconOnly(el) ? el : null
  }

  doc.addEventListener('pointerover', (event) => {
    if ((event as PointerEvent).pointerType !== 'mouse') return // a tap is not a hover
    const target = targetOf(event)
    if (target && target !== shownFor) show(target)
  })
  doc.addEventListener('pointerout', (event) => {
    const to = (event as PointerEvent).relatedTarget
    if (shownFor && !(to instanceof Node && shownFor.contains(to))) hide()
  })
  doc.addEventListener('focusin', (event) => {
    const target = targetOf(event)
    if (target && keyboardFocus(target)) show(target)
    else if (shownFor) hide()
  })
  doc.addEventListener('focusout', () => hide())
  doc.addEventListener('click', () => hide())
  // WCAG 1.4.13: the tip can be dismissed without moving the pointer or the focus.
  doc.addEventListener(
    'keydown',
    (event) => {
      if (event.key === 'Escape' && shownFor) hide()
    },
    true,
  )
  doc.addEventListener('scroll', () => hide(), true)
}
