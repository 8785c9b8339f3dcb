// Applies the chosen theme to <html data-theme>, following the system when asked to.
import { watchEffect } from 'vue'
import { usePreferencesStore } from '@/stores/preferences'

export function useTheme(): void {
  const preferences = usePreferencesStore()
  const media = window.matchMedia?.('(prefers-color-scheme: dark)')
  const apply = () => {
    const dark = preferences.theme === 'dark' || (preferences.theme === 'system' && media?.matches === true)
    document.documentElement.dataset.theme = dark ? 'dark' : 'light'
    document.querySelector('meta[name="theme-color"]')?.setAttribute('content', dark ? '#101217' : '#1f2430')
  }
  media?.addEventListener('change', apply)
  watchEffect(apply)
}
