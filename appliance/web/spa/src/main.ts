// First: the first screen's requests leave while the rest of the app evaluates.
import './boot/start'
import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { nextTask } from './boot/nextTask'
import { registerServiceWorker } from './composables/useServiceWorker'
import { createAppRouter } from './router'
import { installTooltips } from './tooltips/tooltips'
// Colour emoji ship with the app (OFL-1.1); each unicode-range subset is fetched on first use.
import './styles/emoji-font.css'
import './styles/main.css'
import './styles/layout.css'

// Three tasks, not one: evaluating the app's modules, making its router, and the first
// render (which asks the router where we are) each take a phone tens of milliseconds.
async function start(): Promise<void> {
  const app = createApp(App)
  const pinia = createPinia()
  app.use(pinia)
  await nextTask()
  app.use(createAppRouter(pinia))
  await nextTask()
  app.mount('#app')
  installTooltips(document)
  void registerServiceWorker()
}
void start()
