import { onBeforeUnmount, ref, shallowRef } from 'vue'

export type RecordKind = 'audio' | 'video'
export type RecorderState = 'idle' | 'starting' | 'recording' | 'done' | 'error'

export interface Recording {
  blob: Blob
  durationMs: number
  kind: RecordKind
}

/** Longest message of each kind: a forgotten recorder must not fill the appliance's disk. */
export const MAX_RECORDING_MS: Record<RecordKind, number> = { audio: 10 * 60_000, video: 3 * 60_000 }

const CANDIDATES: Record<RecordKind, string[]> = {
  audio: ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4'],
  video: ['video/webm;codecs=vp8,opus', 'video/webm;codecs=vp8', 'video/webm', 'video/mp4'],
}

/** The first format this browser records; '' lets it choose (Safari records MP4 only). */
export function pickMime(kind: RecordKind, supported: (mime: string) => boolean): string {
  return CANDIDATES[kind].find((mime) => supported(mime)) ?? ''
}

/** The file's type without codec parameters: what the server's safe list and players know. */
export function baseMime(mime: string, kind: RecordKind): string {
  const base = mime.split(';')[0]?.trim()
  return base || (kind === 'audio' ? 'audio/webm' : 'video/webm')
}

/** Loudness 0..1 of a block of samples (-1..1): the RMS, scaled so speech fills the meter. */
export function levelOf(samples: Float32Array): number {
  if (!samples.length) return 0
  let sum = 0
  for (const s of samples) sum += s * s
  return Math.min(1, Math.sqrt(sum / samples.length) * 4)
}

/**
 * One recording with MediaRecorder: a timer, a level meter (AnalyserNode) and a result to
 * preview before sending. The microphone and camera are released as soon as it stops.
 */
export function useRecorder(clock: () => number = () => performance.now()) {
  const state = ref<RecorderState>('idle')
  const elapsedMs = ref(0)
  const level = ref(0)
  const error = ref('')
  const stream = shallowRef<MediaStream | null>(null)
  const result = shallowRef<Recording | null>(null)
  let recorder: MediaRecorder | null = null
  let chunks: Blob[] = []
  let startedAt = 0
  let stoppedAt: number | null = null
  let timer: ReturnType<typeof setInterval> | null = null
  let frame: number | null = null
  let audio: AudioContext | null = null
  let discard = false

  function release(): void {
    if (timer !== null) clearInterval(timer)
    timer = null
    if (frame !== null) cancelAnimationFrame(frame)
    frame = null
    void audio?.close().catch(() => undefined)
    audio = null
    for (const track of stream.value?.getTracks() ?? []) track.stop()
    stream.value = null
    level.value = 0
  }

  function meter(source: MediaStream): void {
    try {
      audio = new AudioContext()
      const analyser = audio.createAnalyser()
      analyser.fftSize = 1024
      audio.createMediaStreamSource(source).connect(analyser)
      const samples = new Float32Array(analyser.fftSize)
      const tick = (): void => {
        analyser.getFloatTimeDomainData(samples)
        level.value = levelOf(samples)
        frame = requestAnimationFrame(tick)
      }
      tick()
    } catch {
      audio = null // no Web Audio: record without a meter
    }
  }

  async function start(kind: RecordKind): Promise<void> {
    if (state.value === 'starting' || state.value === 'recording') return
    error.value = ''
    result.value = null
    discard = false
    state.value = 'starting'
    try {
      const media = await navigator.mediaDevices.getUserMedia(
        kind === 'video' ? { audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } } : { audio: true },
      )
      stream.value = media
      const mime = pickMime(kind, (m) => MediaRecorder.isTypeSupported(m))
      recorder = new MediaRecorder(media, mime ? { mimeType: mime } : {})
      chunks = []
      recorder.ondataavailable = (event) => {
        if (event.data.size > 0) chunks.push(event.data)
      }
      const type = baseMime(recorder.mimeType || mime, kind)
      recorder.onstop = () => {
        // Until Stop was pressed: the last data can take a while to come (Firefox), and the
        // server measures the media itself on upload anyway.
        const durationMs = Math.round((stoppedAt ?? clock()) - startedAt)
        release()
        if (discard) {
          state.value = 'idle'
          return
        }
        result.value = { blob: new Blob(chunks, { type }), durationMs, kind }
        chunks = []
        state.value = 'done'
      }
      meter(media)
      recorder.start(1000)
      startedAt = clock()
      stoppedAt = null
      elapsedMs.value = 0
      state.value = 'recording'
      timer = setInterval(() => {
        elapsedMs.value = Math.round(clock() - startedAt)
        if (elapsedMs.value >= MAX_RECORDING_MS[kind]) stop()
      }, 100)
    } catch (e) {
      release()
      state.value = 'error'
      error.value =
        e instanceof DOMException && e.name === 'NotAllowedError'
          ? `The browser did not allow the ${kind === 'video' ? 'camera' : 'microphone'}.`
          : e instanceof DOMException && e.name === 'NotFoundError'
            ? `No ${kind === 'video' ? 'camera' : 'microphone'} was found.`
            : 'Recording is not possible here.'
    }
  }

  function stop(): void {
    if (recorder && recorder.state !== 'inactive') {
      stoppedAt = clock()
      recorder.stop()
    }
  }

  function cancel(): void {
    discard = true
    if (recorder && recorder.state !== 'inactive') recorder.stop()
    else release()
    result.value = null
    state.value = 'idle'
  }

  onBeforeUnmount(cancel)

  return { state, elapsedMs, level, error, stream, result, start, stop, cancel }
}
