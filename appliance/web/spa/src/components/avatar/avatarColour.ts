import { hueFor } from '@/composables/format'

// The colour behind an avatar's white initials: the seed's own hue (format's hueFor, so a
// person keeps their colour family), as light as it may be while white text on it reads at
// 4.5:1 (WCAG AA). At one lightness for every hue, yellows and greens fell to 2.3:1.
const SATURATION = 0.55
const MAX_LIGHTNESS = 0.45
const STEP = 0.005
// A little over 4.5: the browser rounds the colour to whole sRGB steps.
export const MIN_CONTRAST = 4.6

const byHue = new Map<number, string>()

/** sRGB channels (0..1) of an HSL colour (CSS Color 4's algorithm). */
export function hslToRgb(hue: number, saturation: number, lightness: number): [number, number, number] {
  const a = saturation * Math.min(lightness, 1 - lightness)
  const channel = (n: number): number => {
    const k = (n + hue / 30) % 12
    return lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
  }
  return [channel(0), channel(8), channel(4)]
}

/** WCAG contrast ratio of white text on the colour. */
export function contrastWithWhite(rgb: [number, number, number]): number {
  const linear = rgb.map((c) => {
    const byte = Math.round(c * 255) / 255
    return byte <= 0.03928 ? byte / 12.92 : ((byte + 0.055) / 1.055) ** 2.4
  })
  const luminance = 0.2126 * linear[0]! + 0.7152 * linear[1]! + 0.0722 * linear[2]!
  return 1.05 / (luminance + 0.05)
}

/** The lightness (0..1) used for `hue`: the highest that keeps white text at MIN_CONTRAST. */
export function avatarLightness(hue: number): number {
  let lightness = MAX_LIGHTNESS
  while (contrastWithWhite(hslToRgb(hue, SATURATION, lightness)) < MIN_CONTRAST) lightness -= STEP
  return lightness
}

/** The CSS background of the avatar made from `seed` (a user or room id). */
export function avatarBackground(seed: number): string {
  const hue = hueFor(seed)
  let colour = byHue.get(hue)
  if (colour === undefined) {
    const [r, g, b] = hslToRgb(hue, SATURATION, avatarLightness(hue)).map((c) => Math.round(c * 255))
    colour = `rgb(${r} ${g} ${b})`
    byHue.set(hue, colour)
  }
  return colour
}
