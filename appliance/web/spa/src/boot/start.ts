// Imported first by main.ts, so that its requests leave before the rest of the app evaluates.
import { startBootFetches } from './bootFetches'

startBootFetches(window.location)
