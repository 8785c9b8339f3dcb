// What a person does in a call with their own media: mute, camera, screen, devices. Every
// change is told to the others (rtc.call.update) so their tiles show it.
import type { Ref, ShallowRef } from 'vue'
import type { RoomId, UserId } from '@/api/types'
import type { FeatureChannel } from '@/sync/featureChannel'
import type { SpeakingMeter } from './audio'
import { captureCamera, captureMicrophone, captureScreen, saveDeviceChoice, stopStream, type DeviceChoice } from './media'
import { mediaErrorText } from './mediaErrors'
import type { Mesh } from './mesh'

export interface ControlsContext {
  mesh: ShallowRef<Mesh | null>
  active: Ref<{ room: RoomId } | null>
  muted: Ref<boolean>
  cameraOn: Ref<boolean>
  screenOn: Ref<boolean>
  error: Ref<string>
  devices: Ref<DeviceChoice>
  meter: SpeakingMeter
  channel: FeatureChannel
  me: () => UserId | null
}

export function mediaControls(ctx: ControlsContext) {
  const { mesh, active, muted, cameraOn, screenOn, error, devices, meter, channel } = ctx

  function announce(): void {
    const current = active.value
    if (!current) return
    channel.send({
      type: 'rtc.call.update',
      room: current.room,
      audio: !muted.value,
      video: cameraOn.value,
      screen: screenOn.value,
    })
  }

  function toggleMute(): void {
    muted.value = !muted.value
    mesh.value?.setMuted(muted.value)
    announce()
  }

  async function toggleCamera(): Promise<void> {
    const m = mesh.value
    if (!m) return
    try {
      if (cameraOn.value) m.cameraOff()
      else {
        const track = await captureCamera()
        if (track) m.replaceTrack(track)
      }
      cameraOn.value = m.cameraOn
    } catch (e) {
      error.value = mediaErrorText(e, 'camera')
    }
    announce()
  }

  /** Shares a stream's video as its own track (a screen, or the painter's canvas). */
  function shareStream(stream: MediaStream, label: string): void {
    const m = mesh.value
    if (!m) throw new Error('Not in a call.')
    const previous = m.media.screen
    m.setScreen(stream, label)
    if (previous && previous !== stream) stopStream(previous)
    screenOn.value = true
    stream.getVideoTracks()[0]?.addEventListener('ended', () => {
      if (mesh.value?.media.screen === stream) stopSharing()
    })
    announce()
  }

  async function toggleScreen(): Promise<void> {
    if (screenOn.value) {
      stopSharing()
      return
    }
    try {
      shareStream(await captureScreen(), 'Screen')
    } catch (e) {
      if (!(e instanceof DOMException && e.name === 'NotAllowedError')) {
        error.value = mediaErrorText(e, 'screen')
      }
    }
  }

  function stopSharing(): void {
    const m = mesh.value
    const stream = m?.media.screen ?? null
    m?.setScreen(null)
    stopStream(stream)
    screenOn.value = false
    announce()
  }

  async function chooseDevice(kind: keyof DeviceChoice, deviceId: string): Promise<void> {
    devices.value = { ...devices.value, [kind]: deviceId }
    saveDeviceChoice(devices.value)
    const m = mesh.value
    if (!m) return
    try {
      if (kind === 'audioinput') {
        const track = await captureMicrophone()
        if (track) m.replaceTrack(track)
        m.setMuted(muted.value)
        const me = ctx.me()
        if (me !== null) meter.watch(`local:${me}`, m.media.camera)
      } else if (kind === 'videoinput' && cameraOn.value) {
        const track = await captureCamera()
        if (track) m.replaceTrack(track)
      }
    } catch (e) {
      error.value = mediaErrorText(e, 'device')
    }
  }

  return { toggleMute, toggleCamera, shareStream, toggleScreen, stopSharing, chooseDevice }
}
