// The app's icon badge (installed apps: the home screen or the dock): the unread count.
export async function showBadge(unread: number): Promise<void> {
  if (typeof navigator === 'undefined' || !('setAppBadge' in navigator)) return
  try {
    if (unread > 0) await navigator.setAppBadge(unread)
    else await navigator.clearAppBadge()
  } catch {
    /* not allowed here (an uninstalled page in some browsers): the title still counts */
  }
}
