// The first screen from the answers to boot's requests (boot/bootFetches.ts): the people, the
// rooms and the open room's newest page, shown while the socket opens and says hello. They
// are a head start, not the truth: with no cached seq the hello reloads people and rooms
// over REST as always, and the room's next newest page settles the early one.
import { takePrefetched } from '@/api/http'
import type { Page } from '@/api/messages'
import type { Room } from '@/api/types'
import { directoryUsers, type UserDirectory } from '@/api/users'
import { NEWEST_PAGE, newestPagePath, roomAtStart } from '@/boot/bootFetches'
import type { useMessagesStore } from './messages'
import type { useRoomsStore } from './rooms'
import type { useUsersStore } from './users'

export interface SyncBootDeps {
  users: ReturnType<typeof useUsersStore>
  rooms: ReturnType<typeof useRoomsStore>
  messages: ReturnType<typeof useMessagesStore>
}

/** Longest the first sync waits for boot's answers before going on without them. */
const WAIT_AT_MOST_MS = 5_000

/** A boot answer, or null when there was none or it failed (the hello's reload asks again). */
function taken<T>(answer: Promise<T> | null): Promise<T | null> {
  return answer ? answer.catch(() => null) : Promise.resolve(null)
}

/** Takes boot's answers (each once, whatever happens) and fills the stores with them while
 * `wanted` says they are still the newest there is. */
export async function showBootAnswers(
  deps: SyncBootDeps,
  wanted: () => boolean,
  location: Pick<Location, 'pathname' | 'search'>,
): Promise<void> {
  const quiet = { quiet: true }
  const room = roomAtStart(location)
  const found = taken(takePrefetched<UserDirectory>('/api/users', undefined, quiet))
  const listed = taken(takePrefetched<{ rooms: Room[]; seq?: number }>('/api/rooms', undefined, quiet))
  const page = taken(room === null ? null : takePrefetched<Page>(newestPagePath(room), { limit: NEWEST_PAGE }, quiet))
  if (!wanted()) return
  // Bounded: the hello waits for this, and a network that swallows requests never answers.
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<null>((done) => (timer = setTimeout(() => done(null), WAIT_AT_MOST_MS)))
  const answers = await Promise.race([Promise.all([found, listed, page]), late])
  clearTimeout(timer)
  if (!answers) return
  const [people, list, newest] = answers
  if (!people || !list || !wanted()) return
  deps.users.replaceAll(directoryUsers(people))
  deps.rooms.replaceAll(list.rooms, { seq: list.seq })
  if (room !== null && newest && deps.rooms.byId[room] && !deps.messages.timelines[room]) {
    deps.messages.showEarly(room, newest.messages, newest.has_more)
  }
}
