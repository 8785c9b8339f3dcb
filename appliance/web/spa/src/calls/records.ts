// The words of a call record (a line the server writes into the timeline; docs/api/calls.md).
import type { CallRecord } from '@/api/types'

/** A call's length as people say it: "35 s", "4 min", "1 h 5 min". */
export function callLength(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000))
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.round(seconds / 60)
  if (minutes < 60) return `${minutes} min`
  const h = Math.floor(minutes / 60)
  const m = minutes % 60
  return m ? `${h} h ${m} min` : `${h} h`
}

/** "Alice started a call", "Call ended · 4 min", "Missed call from Alice". */
export function recordText(record: CallRecord, caller: string, mine: boolean): string {
  switch (record.event) {
    case 'started':
      return mine ? 'You started a call' : `${caller} started a call`
    case 'ended':
      if (record.interrupted) return 'Call ended when the server stopped'
      return record.duration_ms !== undefined ? `Call ended · ${callLength(record.duration_ms)}` : 'Call ended'
    case 'missed':
      return mine ? 'Call not answered' : `Missed call from ${caller}`
    default:
      return 'Call'
  }
}
