// The uploads' typed client: files and avatars as multipart, with progress and cancel,
// through http.ts (errors and the 401 handling as everywhere else).
import { http, type UploadOptions } from '@/api/http'
import type { Room, Upload, User } from '@/api/types'

export interface MultipartOptions extends Omit<UploadOptions, 'query'> {
  /** Plain fields, sent before the file (the server reads the stream in order). */
  fields?: Record<string, string>
}

function sendFile<T>(
  method: 'POST' | 'PUT',
  path: string,
  file: Blob,
  fileName: string,
  { fields, ...options }: MultipartOptions = {},
): Promise<T> {
  const form = new FormData()
  for (const [key, value] of Object.entries(fields ?? {})) form.append(key, value)
  form.append('file', file, fileName)
  return http.upload<T>(method, path, form, options)
}

export interface UploadMeta {
  name: string
  durationMs?: number | null
}

/** POST /api/uploads: the file is stored, not yet shown anywhere until a message uses it. */
export async function uploadFile(file: Blob, meta: UploadMeta, options: MultipartOptions = {}): Promise<Upload> {
  const fields: Record<string, string> = {}
  if (meta.durationMs != null) fields.duration_ms = String(Math.round(meta.durationMs))
  const reply = await sendFile<{ upload: Upload }>('POST', '/api/uploads', file, meta.name, {
    ...options,
    fields,
  })
  return reply.upload
}

/** Pictures are cropped square in the browser; the server makes the thumbnails. */
export const avatarsApi = {
  setMine: (picture: Blob) => sendFile<{ user: User }>('PUT', '/api/me/avatar', picture, 'avatar.png'),
  clearMine: () => http.delete<{ user: User }>('/api/me/avatar'),
  setRoom: (room: number, picture: Blob) =>
    sendFile<{ room: Room }>('PUT', `/api/rooms/${room}/avatar`, picture, 'avatar.png'),
  clearRoom: (room: number) => http.delete<{ room: Room }>(`/api/rooms/${room}/avatar`),
}
