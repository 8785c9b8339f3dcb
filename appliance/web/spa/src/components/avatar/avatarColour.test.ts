import { describe, expect, it } from 'vitest'
import { avatarBackground, avatarLightness, contrastWithWhite, hslToRgb } from './avatarColour'

function parse(colour: string): [number, number, number] {
  const [r, g, b] = (colour.match(/\d+/g) ?? []).map((n) => Number(n) / 255)
  return [r!, g!, b!]
}

describe('avatar colours', () => {
  it('puts every hue under white initials at 4.5:1 or more', () => {
    // Seeds 0..359 reach every hue (137 and 360 are coprime).
    for (let seed = 0; seed < 360; seed++) {
      expect(contrastWithWhite(parse(avatarBackground(seed)))).toBeGreaterThanOrEqual(4.5)
    }
  })

  it('darkens only the hues that need it', () => {
    // Was hsl(h 55% 45%) for every hue: yellow (60) gave 2.3:1, blue (230) 7.7:1.
    expect(contrastWithWhite(hslToRgb(60, 0.55, 0.45))).toBeLessThan(3)
    expect(avatarLightness(60)).toBeLessThan(0.35)
    expect(avatarLightness(230)).toBe(0.45)
  })

  it('matches the CSS conversion of a known colour', () => {
    expect(hslToRgb(0, 1, 0.5).map((c) => Math.round(c * 255))).toEqual([255, 0, 0])
    expect(hslToRgb(120, 0.55, 0.45).map((c) => Math.round(c * 255))).toEqual([52, 178, 52])
  })
})
