import { defineStore } from 'pinia'
import { reactive, ref } from 'vue'
import { messagesApi } from '@/api/messages'
import type { MessageId } from '@/api/types'
import type { ThreadState } from '@/sync/reducer'
import { mergeSorted } from '@/sync/timeline'

/** Threads someone opened, kept current by events. */
export const useThreadsStore = defineStore('threads', () => {
  const threads = reactive<Record<MessageId, ThreadState>>({})
  const loading = ref<MessageId | null>(null)

  async function load(rootId: MessageId): Promise<void> {
    if (!threads[rootId]) threads[rootId] = { root: null, replies: [] }
    loading.value = rootId
    try {
      const { root, replies } = await messagesApi.thread(rootId)
      const held = threads[root.id] ?? (threads[root.id] = { root: null, replies: [] })
      held.root = root
      mergeSorted(held.replies, replies)
    } finally {
      loading.value = null
    }
  }

  function clear(): void {
    for (const id of Object.keys(threads)) delete threads[Number(id)]
  }

  return { threads, loading, load, clear }
})
