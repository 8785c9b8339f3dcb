// What a person is told when a camera, microphone or screen cannot start. The browsers'
// own messages ("Could not start video source", Firefox's "The object can not be found
// here.") say nothing a person can act on; the error's name does.

export type MediaSource = 'screen' | 'camera' | 'device'

const WHAT: Record<MediaSource, string> = {
  screen: 'Your screen could not be shared',
  camera: 'The camera could not start',
  device: 'That device could not start',
}

const WHY: Record<string, string> = {
  NotAllowedError: 'the browser or the system did not allow it.',
  SecurityError: 'the browser or the system did not allow it.',
  NotReadableError: 'another program may be using it, or the system refused.',
  AbortError: 'another program may be using it, or the system refused.',
  NotFoundError: 'nothing to capture was found.',
  OverconstrainedError: 'nothing to capture was found.',
  NotSupportedError: 'this browser cannot do it here.',
  TypeError: 'this browser cannot do it here.',
}

/** A sentence for the call panel: what failed and, when the error says so, why. */
export function mediaErrorText(error: unknown, source: MediaSource): string {
  const name = error instanceof Error || error instanceof DOMException ? error.name : ''
  const why = WHY[name]
  return why ? `${WHAT[source]}: ${why}` : `${WHAT[source]}.`
}
