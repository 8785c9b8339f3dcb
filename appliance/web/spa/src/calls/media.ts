// Cameras, microphones and screens: capture with the devices the user chose last time.

const DEVICES_KEY = 'pychat.calls.devices'

export interface DeviceChoice {
  audioinput?: string
  videoinput?: string
  audiooutput?: string
}

export function loadDeviceChoice(): DeviceChoice {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(DEVICES_KEY) ?? '{}')
    if (!parsed || typeof parsed !== 'object') return {}
    const out: DeviceChoice = {}
    for (const kind of ['audioinput', 'videoinput', 'audiooutput'] as const) {
      const value = (parsed as Record<string, unknown>)[kind]
      if (typeof value === 'string' && value.length <= 256) out[kind] = value
    }
    return out
  } catch {
    return {}
  }
}

export function saveDeviceChoice(choice: DeviceChoice): void {
  localStorage.setItem(DEVICES_KEY, JSON.stringify(choice))
}

export async function listDevices(): Promise<MediaDeviceInfo[]> {
  if (!navigator.mediaDevices?.enumerateDevices) return []
  return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.deviceId !== '')
}

function audioConstraints(choice: DeviceChoice): MediaTrackConstraints {
  return {
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
    ...(choice.audioinput ? { deviceId: { ideal: choice.audioinput } } : {}),
  }
}

function videoConstraints(choice: DeviceChoice): MediaTrackConstraints {
  return {
    width: { ideal: 1280 },
    height: { ideal: 720 },
    frameRate: { ideal: 30 },
    ...(choice.videoinput ? { deviceId: { ideal: choice.videoinput } } : {}),
  }
}

/** The microphone and/or camera; a camera that fails still leaves a working microphone. */
export async function captureLocal(audio: boolean, video: boolean): Promise<MediaStream> {
  const choice = loadDeviceChoice()
  const stream = new MediaStream()
  if (audio) {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: audioConstraints(choice) })
    for (const track of mic.getAudioTracks()) stream.addTrack(track)
  }
  if (video) {
    try {
      const cam = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(choice) })
      for (const track of cam.getVideoTracks()) stream.addTrack(track)
    } catch (error) {
      if (!audio) throw error
    }
  }
  return stream
}

export async function captureCamera(): Promise<MediaStreamTrack | null> {
  const cam = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(loadDeviceChoice()) })
  return cam.getVideoTracks()[0] ?? null
}

export async function captureMicrophone(): Promise<MediaStreamTrack | null> {
  const mic = await navigator.mediaDevices.getUserMedia({ audio: audioConstraints(loadDeviceChoice()) })
  return mic.getAudioTracks()[0] ?? null
}

export async function captureScreen(): Promise<MediaStream> {
  return navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false })
}

export function stopStream(stream: MediaStream | null): void {
  for (const track of stream?.getTracks() ?? []) track.stop()
}
