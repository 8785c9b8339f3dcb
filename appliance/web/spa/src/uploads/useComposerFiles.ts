import { computed, ref } from 'vue'
import type { NewFile } from '@/stores/outbox'
import { MAX_ATTACHMENTS, useUploadsStore } from './uploads'

/** A pasted screenshot is called "image.png" by every browser: give it a date instead. */
export function nameFor(file: Blob, fallbackStem: string, now = new Date()): string {
  const given = file instanceof File ? file.name : ''
  if (given && given !== 'image.png' && given !== 'blob') return given
  const ext = (file.type.split('/')[1] ?? 'bin').split(/[;+]/)[0] ?? 'bin'
  const stamp = now.toISOString().slice(0, 19).replace('T', ' ').replace(/:/g, '.')
  return `${fallbackStem} ${stamp}.${ext === 'jpeg' ? 'jpg' : ext}`
}

/**
 * The files attached in one composer: each starts uploading as soon as it is chosen, and the
 * whole set is handed to the outbox with the message (whose send waits for them).
 */
export function useComposerFiles() {
  const uploads = useUploadsStore()
  const keys = ref<string[]>([])
  const notice = ref('')

  const jobs = computed(() => keys.value.flatMap((key) => (uploads.jobs[key] ? [uploads.jobs[key]] : [])))
  /** A refused file (too large, over quota) must be removed before sending. */
  const blocked = computed(() => jobs.value.some((j) => j.state === 'failed'))

  function add(files: Iterable<Blob>, durationMs: number | null = null, stem = 'Pasted image'): number {
    notice.value = ''
    let added = 0
    for (const file of files) {
      if (keys.value.length >= MAX_ATTACHMENTS) {
        notice.value = `A message can carry at most ${MAX_ATTACHMENTS} files.`
        break
      }
      const job = uploads.add(file, nameFor(file, stem), durationMs)
      keys.value.push(job.key)
      added++
    }
    return added
  }

  function remove(key: string): void {
    uploads.cancel(key)
    uploads.forget(key)
    keys.value = keys.value.filter((k) => k !== key)
  }

  /** Everything attached, for outbox.add; the composer starts empty again. */
  function take(): NewFile[] {
    const taken = jobs.value.map((job) => {
      const blob = uploads.blobOf(job.key)
      return {
        key: job.key,
        name: job.name,
        size: job.size,
        mime: job.mime,
        duration_ms: job.durationMs,
        upload: job.upload,
        ...(blob ? { blob } : {}),
      }
    })
    keys.value = []
    return taken
  }

  /** The composer goes away (another room): files never sent are dropped. */
  function dispose(): void {
    for (const key of keys.value) remove(key)
  }

  return { keys, jobs, notice, blocked, add, remove, take, dispose }
}
